// Hull's host prelude: the small part of Convex's udf-runtime that user code and the
// convex library need in queries and mutations. It is a module (`hull:prelude`, compiled to
// bytecode once per JsRuntime) whose default export hull-js calls once per context with the
// host hooks; it keeps the object that returns. User code reaches the host only through
// `Convex.*` syscalls and these globals, and cannot import this module.
export default function installHullPrelude(host) {
  const global = globalThis;
  const define = (object, name, value) =>
    Object.defineProperty(object, name, { value, writable: true, configurable: true, enumerable: false });

  // --- determinism: a frozen clock and a seeded Math.random, set per request ------------------
  let frozenNow = 0;
  // Actions see the real clock; queries and mutations a frozen one.
  let live = false;
  const currentNow = () => (live ? OriginalDate.now() : frozenNow);
  // sfc32: small, fast, good enough statistically; seeded from the host per request.
  let a = 0, b = 0, c = 0, d = 1;
  function random() {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    // 53 random bits from two draws, like V8's Math.random precision.
    return (t >>> 0) / 4294967296;
  }
  define(Math, "random", function random53() {
    const hi = random() * 2097152; // 21 bits
    const lo = random();
    return (Math.floor(hi) + lo) / 2097152;
  });

  const OriginalDate = Date;
  function HullDate(...args) {
    if (!new.target) return new OriginalDate(currentNow()).toString();
    if (args.length === 0) return Reflect.construct(OriginalDate, [currentNow()], new.target);
    return Reflect.construct(OriginalDate, args, new.target);
  }
  Object.setPrototypeOf(HullDate, OriginalDate);
  HullDate.prototype = OriginalDate.prototype;
  define(OriginalDate.prototype, "constructor", HullDate);
  define(HullDate, "now", function now() { return currentNow(); });
  define(HullDate, "parse", OriginalDate.parse);
  define(HullDate, "UTC", OriginalDate.UTC);
  define(global, "Date", HullDate);

  // --- console --------------------------------------------------------------------------------
  const MAX_STRING = 32768;
  function inspect(value, depth, seen) {
    switch (typeof value) {
      case "string": return depth === 0 ? value : "'" + value.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n") + "'";
      case "number": return Object.is(value, -0) ? "-0" : String(value);
      case "bigint": return String(value) + "n";
      case "boolean": case "undefined": return String(value);
      case "symbol": return value.toString();
      case "function": return "[Function: " + (value.name || "(anonymous)") + "]";
    }
    if (value === null) return "null";
    if (seen.includes(value)) return "[Circular]";
    if (value instanceof Error) return value.stack ? String(value.name) + ": " + value.message + "\n" + value.stack : String(value);
    if (value instanceof OriginalDate) return value.toISOString();
    if (depth > 4) return Array.isArray(value) ? "[Array]" : "[Object]";
    const next = seen.concat([value]);
    if (Array.isArray(value)) {
      if (value.length === 0) return "[]";
      return "[ " + value.map((v) => inspect(v, depth + 1, next)).join(", ") + " ]";
    }
    if (value instanceof ArrayBuffer) return "ArrayBuffer { byteLength: " + value.byteLength + " }";
    if (ArrayBuffer.isView(value)) return value.constructor.name + "(" + value.length + ") [ " + Array.from(value).join(", ") + " ]";
    if (value instanceof Map) return "Map (" + value.size + ") {" + [...value].map(([k, v]) => " " + inspect(k, depth + 1, next) + " => " + inspect(v, depth + 1, next)).join(",") + " }";
    if (value instanceof Set) return "Set (" + value.size + ") {" + [...value].map((v) => " " + inspect(v, depth + 1, next)).join(",") + " }";
    const keys = Object.keys(value);
    const proto = Object.getPrototypeOf(value);
    const prefix = proto && proto !== Object.prototype && proto.constructor && proto.constructor.name ? proto.constructor.name + " " : "";
    if (keys.length === 0) return prefix + "{}";
    const key = (k) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : "'" + k + "'");
    return prefix + "{ " + keys.map((k) => key(k) + ": " + inspect(value[k], depth + 1, next)).join(", ") + " }";
  }
  function format(args) {
    return args.map((arg) => {
      let text;
      try { text = inspect(arg, 0, []); } catch (e) { text = "[unprintable]"; }
      return text.length > MAX_STRING ? text.slice(0, MAX_STRING) + "..." : text;
    });
  }
  const timers = new Map();
  const counts = new Map();
  const consoleObject = {};
  for (const [name, level] of [["log", "LOG"], ["info", "INFO"], ["warn", "WARN"], ["error", "ERROR"], ["debug", "DEBUG"]]) {
    define(consoleObject, name, function (...args) { host.log(level, format(args)); });
  }
  define(consoleObject, "trace", function (...args) {
    const stack = new Error().stack || "";
    host.log("ERROR", format(args).concat([stack.split("\n").slice(1).join("\n")]));
  });
  define(consoleObject, "assert", function (condition, ...args) {
    if (!condition) host.log("ERROR", ["Assertion failed" + (args.length ? ":" : "")].concat(format(args)));
  });
  define(consoleObject, "count", function (label = "default") {
    const n = (counts.get(label) || 0) + 1;
    counts.set(label, n);
    host.log("INFO", [label + ": " + n]);
  });
  define(consoleObject, "time", function (label = "default") { timers.set(label, performance.now()); });
  define(consoleObject, "timeLog", function (label = "default", ...args) {
    if (!timers.has(label)) { host.log("WARN", ["Timer '" + label + "' does not exist"]); return; }
    host.log("INFO", [label + ": " + (performance.now() - timers.get(label)) + "ms"].concat(format(args)));
  });
  define(consoleObject, "timeEnd", function (label = "default") {
    if (!timers.has(label)) { host.log("WARN", ["Timer '" + label + "' does not exist"]); return; }
    host.log("INFO", [label + ": " + (performance.now() - timers.get(label)) + "ms"]);
    timers.delete(label);
  });
  define(global, "console", consoleObject);

  // --- TextEncoder / TextDecoder (UTF-8 only) -------------------------------------------------
  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(input = "") {
      const s = String(input);
      const out = [];
      for (let i = 0; i < s.length; i++) {
        let cp = s.codePointAt(i);
        if (cp > 0xffff) i++;
        else if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; // lone surrogate
        if (cp < 0x80) out.push(cp);
        else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
        else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
        else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
      }
      return new Uint8Array(out);
    }
    encodeInto(input, dest) {
      const bytes = this.encode(input);
      const n = Math.min(bytes.length, dest.length);
      dest.set(bytes.subarray(0, n));
      return { read: String(input).length, written: n };
    }
  }
  class TextDecoder {
    constructor(label = "utf-8", options = {}) {
      const l = String(label).toLowerCase();
      if (l !== "utf-8" && l !== "utf8" && l !== "unicode-1-1-utf-8") throw new RangeError("The encoding label provided ('" + label + "') is invalid.");
      this.fatal = !!options.fatal;
      this.ignoreBOM = !!options.ignoreBOM;
    }
    get encoding() { return "utf-8"; }
    // `{stream: true}` keeps an incomplete trailing sequence for the next call, so text split
    // across chunks decodes as a whole.
    decode(input, options) {
      let bytes = input === undefined ? new Uint8Array(0) : input instanceof ArrayBuffer ? new Uint8Array(input) : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
      const pending = this._pending;
      if (pending !== undefined && pending.length > 0) {
        const joined = new Uint8Array(pending.length + bytes.length);
        joined.set(pending);
        joined.set(bytes, pending.length);
        bytes = joined;
      }
      this._pending = undefined;
      const stream = !!(options && options.stream);
      if (stream) {
        let start = bytes.length;
        for (let t = bytes.length - 1; t >= 0 && t >= bytes.length - 4; t--) {
          if ((bytes[t] & 0xc0) !== 0x80) { start = t; break; }
        }
        if (start < bytes.length) {
          const b0 = bytes[start];
          const need = b0 >= 0xf0 && b0 < 0xf5 ? 3 : b0 >= 0xe0 && b0 < 0xf0 ? 2 : b0 >= 0xc2 && b0 < 0xe0 ? 1 : 0;
          if (need > 0 && bytes.length - start <= need) {
            this._pending = bytes.slice(start);
            bytes = bytes.subarray(0, start);
          }
        }
      }
      const atStart = !this._started;
      this._started = stream && (this._started || bytes.length > 0);
      let out = "";
      let i = 0;
      if (atStart && !this.ignoreBOM && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3;
      const bad = () => { if (this.fatal) throw new TypeError("The encoded data was not valid for encoding utf-8"); return "\ufffd"; };
      while (i < bytes.length) {
        const b0 = bytes[i];
        let need = 0, cp = 0, min = 0;
        if (b0 < 0x80) { out += String.fromCharCode(b0); i++; continue; }
        else if (b0 >= 0xc2 && b0 < 0xe0) { need = 1; cp = b0 & 31; min = 0x80; }
        else if (b0 >= 0xe0 && b0 < 0xf0) { need = 2; cp = b0 & 15; min = 0x800; }
        else if (b0 >= 0xf0 && b0 < 0xf5) { need = 3; cp = b0 & 7; min = 0x10000; }
        else { out += bad(); i++; continue; }
        let j = 1;
        for (; j <= need; j++) {
          const bj = bytes[i + j];
          if (bj === undefined || (bj & 0xc0) !== 0x80) break;
          cp = (cp << 6) | (bj & 63);
        }
        if (j <= need || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) { out += bad(); i += Math.max(1, j); continue; }
        out += String.fromCodePoint(cp);
        i += need + 1;
      }
      return out;
    }
  }
  define(global, "TextEncoder", TextEncoder);
  define(global, "TextDecoder", TextDecoder);

  // --- URL / URLSearchParams (parsing is native: WHATWG rules via the `url` crate) -------------
  const formEncode = (s) =>
    encodeURIComponent(s).replace(/[!'()~]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase()).replace(/%20/g, "+");
  const formDecode = (s) => {
    const t = s.replace(/\+/g, " ");
    try { return decodeURIComponent(t); } catch (_) { return t; }
  };
  const LIST = Symbol("list");
  const OWNER = Symbol("owner");
  class URLSearchParams {
    constructor(init = "") {
      this[LIST] = [];
      this[OWNER] = null;
      if (init instanceof URLSearchParams) {
        this[LIST] = init[LIST].map(([k, v]) => [k, v]);
      } else if (init !== null && typeof init === "object") {
        if (typeof init[Symbol.iterator] === "function") {
          for (const pair of init) {
            const p = Array.from(pair);
            if (p.length !== 2) throw new TypeError("Each query pair must be an iterable [name, value] tuple");
            this[LIST].push([String(p[0]), String(p[1])]);
          }
        } else {
          for (const key of Object.keys(init)) this[LIST].push([key, String(init[key])]);
        }
      } else {
        this._parse(String(init));
      }
    }
    _parse(text) {
      this[LIST] = [];
      if (text.startsWith("?")) text = text.slice(1);
      for (const part of text.split("&")) {
        if (part === "") continue;
        const eq = part.indexOf("=");
        const name = eq < 0 ? part : part.slice(0, eq);
        const value = eq < 0 ? "" : part.slice(eq + 1);
        this[LIST].push([formDecode(name), formDecode(value)]);
      }
    }
    _update() {
      if (this[OWNER]) this[OWNER]._setSearchFromParams(this.toString());
    }
    get size() { return this[LIST].length; }
    append(name, value) { this[LIST].push([String(name), String(value)]); this._update(); }
    delete(name, value) {
      name = String(name);
      this[LIST] = this[LIST].filter(([k, v]) => !(k === name && (value === undefined || v === String(value))));
      this._update();
    }
    get(name) { name = String(name); const e = this[LIST].find(([k]) => k === name); return e ? e[1] : null; }
    getAll(name) { name = String(name); return this[LIST].filter(([k]) => k === name).map(([, v]) => v); }
    has(name, value) { name = String(name); return this[LIST].some(([k, v]) => k === name && (value === undefined || v === String(value))); }
    set(name, value) {
      name = String(name); value = String(value);
      const i = this[LIST].findIndex(([k]) => k === name);
      if (i < 0) this[LIST].push([name, value]);
      else { this[LIST][i][1] = value; this[LIST] = this[LIST].filter(([k], j) => k !== name || j === i); }
      this._update();
    }
    sort() { this[LIST].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); this._update(); }
    forEach(callback, thisArg) { for (const [k, v] of this[LIST]) callback.call(thisArg, v, k, this); }
    keys() { return this[LIST].map(([k]) => k)[Symbol.iterator](); }
    values() { return this[LIST].map(([, v]) => v)[Symbol.iterator](); }
    entries() { return this[LIST].map(([k, v]) => [k, v])[Symbol.iterator](); }
    [Symbol.iterator]() { return this.entries(); }
    toString() { return this[LIST].map(([k, v]) => formEncode(k) + "=" + formEncode(v)).join("&"); }
    get [Symbol.toStringTag]() { return "URLSearchParams"; }
  }
  const PARTS = Symbol("parts");
  const PARAMS = Symbol("params");
  class URL {
    constructor(url, base) {
      const parsed = host.urlParse(String(url), ...(base === undefined ? [] : [String(base)]));
      if (parsed === undefined || parsed === null) throw new TypeError("Invalid URL: " + String(url));
      this[PARTS] = JSON.parse(parsed);
      this[PARAMS] = null;
    }
    static canParse(url, base) { try { new URL(url, base); return true; } catch (_) { return false; } }
    static parse(url, base) { try { return new URL(url, base); } catch (_) { return null; } }
    _set(component, value) {
      const next = host.urlSet(this[PARTS].href, component, String(value));
      if (next === undefined || next === null) {
        if (component === "href") throw new TypeError("Invalid URL: " + String(value));
        return;
      }
      this[PARTS] = JSON.parse(next);
      if (this[PARAMS] && component !== "hash") this[PARAMS]._parse(this[PARTS].search);
    }
    _setSearchFromParams(text) {
      const next = host.urlSet(this[PARTS].href, "search", text);
      if (next) this[PARTS] = JSON.parse(next);
    }
    get searchParams() {
      if (this[PARAMS] === null) {
        this[PARAMS] = new URLSearchParams(this[PARTS].search);
        this[PARAMS][OWNER] = this;
      }
      return this[PARAMS];
    }
    get origin() { return this[PARTS].origin; }
    toString() { return this[PARTS].href; }
    toJSON() { return this[PARTS].href; }
    get [Symbol.toStringTag]() { return "URL"; }
  }
  for (const name of ["href", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"]) {
    Object.defineProperty(URL.prototype, name, {
      get() { return this[PARTS][name]; },
      set(value) { this._set(name, value); },
      enumerable: true,
      configurable: true,
    });
  }
  define(global, "URL", URL);
  define(global, "URLSearchParams", URLSearchParams);

  // --- crypto (seeded like Math.random in queries and mutations) ------------------------------
  const crypto = {
    getRandomValues(array) {
      if (!ArrayBuffer.isView(array) || array instanceof Float32Array || array instanceof Float64Array || array instanceof DataView) {
        throw new TypeError("The provided ArrayBufferView is not an integer array type");
      }
      if (array.byteLength > 65536) throw new RangeError("The ArrayBufferView's byte length (" + array.byteLength + ") exceeds the number of bytes of entropy available via this API (65536)");
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (random() * 256) & 255;
      return array;
    },
    randomUUID() {
      const b = crypto.getRandomValues(new Uint8Array(16));
      b[6] = (b[6] & 0x0f) | 0x40;
      b[8] = (b[8] & 0x3f) | 0x80;
      const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
      return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
    },
  };
  // crypto.subtle: digest and HMAC (what JWT and webhook-signature libraries need) natively;
  // everything else rejects with NotSupportedError until implemented.
  const KEY_BYTES = Symbol("keyBytes");
  const algorithmName = (algorithm) => String(typeof algorithm === "object" && algorithm !== null ? algorithm.name : algorithm);
  const hashName = (algorithm) => algorithmName(algorithm).toUpperCase();
  const copyBytes = (data) => {
    if (data instanceof ArrayBuffer) return new Uint8Array(data.slice(0));
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    throw new TypeError("Expected an ArrayBuffer or ArrayBufferView");
  };
  const notSupported = (what) => Promise.reject(new DOMException(what + " is not supported by this backend yet", "NotSupportedError"));
  class CryptoKey {
    get [Symbol.toStringTag]() { return "CryptoKey"; }
  }
  // RSASSA-PKCS1-v1_5 (SHA-256/384/512) and ECDSA (P-256, SHA-256): keys imported natively
  // from pkcs8, spki or jwk and kept as DER.
  const ASYMMETRIC = { "RSASSA-PKCS1-V1_5": "RSASSA-PKCS1-v1_5", ECDSA: "ECDSA" };
  function asymmetricCall(f) {
    try {
      return f();
    } catch (e) {
      throw new DOMException(e && e.message !== undefined ? e.message : String(e), "OperationError");
    }
  }
  function importAsymmetric(format, keyData, name, algorithm, extractable, usages) {
    if (format !== "pkcs8" && format !== "spki" && format !== "jwk") throw new DOMException("Importing " + name + " keys in the \"" + format + "\" format is not supported by this backend yet", "NotSupportedError");
    if (name === "ECDSA" && algorithm.namedCurve !== "P-256") throw new DOMException("ECDSA supports only the P-256 curve on this backend yet", "NotSupportedError");
    const bytes = format === "jwk" ? utf8.encode(JSON.stringify(keyData)) : copyBytes(keyData);
    let answer;
    try {
      answer = host.importKey(name, format, bytes);
    } catch (e) {
      throw new DOMException(e && e.message !== undefined ? e.message : String(e), "DataError");
    }
    const info = JSON.parse(answer[0]);
    const keyAlgorithm = name === "ECDSA"
      ? { name, namedCurve: info.namedCurve }
      : { name, hash: { name: hashName(algorithm.hash) }, modulusLength: info.modulusLength, publicExponent: new Uint8Array(info.publicExponent) };
    const key = new CryptoKey();
    Object.defineProperties(key, {
      type: { value: info.type, enumerable: true },
      extractable: { value: !!extractable, enumerable: true },
      algorithm: { value: keyAlgorithm, enumerable: true },
      usages: { value: Array.from(usages || []), enumerable: true },
    });
    key[KEY_BYTES] = new Uint8Array(answer[1]);
    return key;
  }
  function checkAsymmetricKey(name, key, type, usage) {
    if (!(key instanceof CryptoKey) || key.algorithm.name !== name) throw new DOMException("The key is not a " + name + " key", "InvalidAccessError");
    if (key.type !== type) throw new DOMException(usage + " needs a " + type + " key", "InvalidAccessError");
    if (!key.usages.includes(usage)) throw new DOMException("The key's usages do not include " + usage, "InvalidAccessError");
  }
  const asymmetricHash = (name, algorithm, key) => (name === "ECDSA" ? hashName(algorithm.hash) : key.algorithm.hash.name);
  const subtle = {
    async digest(algorithm, data) {
      const result = host.digest(hashName(algorithm), copyBytes(data));
      if (result === undefined || result === null) throw new DOMException("Unrecognized algorithm name", "NotSupportedError");
      return result;
    },
    async importKey(format, keyData, algorithm, extractable, usages) {
      const asymmetric = ASYMMETRIC[algorithmName(algorithm).toUpperCase()];
      if (asymmetric !== undefined) return importAsymmetric(format, keyData, asymmetric, algorithm, extractable, usages);
      if (format !== "raw" || algorithmName(algorithm).toUpperCase() !== "HMAC") {
        throw new DOMException("importKey supports only raw HMAC keys, and RSASSA-PKCS1-v1_5 and ECDSA (P-256) keys, on this backend yet", "NotSupportedError");
      }
      const key = new CryptoKey();
      const hash = { name: hashName(algorithm.hash) };
      Object.defineProperties(key, {
        type: { value: "secret", enumerable: true },
        extractable: { value: !!extractable, enumerable: true },
        algorithm: { value: { name: "HMAC", hash, length: copyBytes(keyData).length * 8 }, enumerable: true },
        usages: { value: Array.from(usages || []), enumerable: true },
      });
      key[KEY_BYTES] = copyBytes(keyData);
      return key;
    },
    async exportKey(format, key) {
      if (key instanceof CryptoKey && key.type !== "secret" && (format === "spki" || format === "pkcs8")) {
        if (!key.extractable) throw new DOMException("key is not extractable", "InvalidAccessError");
        if ((format === "spki") !== (key.type === "public")) throw new DOMException(format + " export needs a " + (format === "spki" ? "public" : "private") + " key", "InvalidAccessError");
        return key[KEY_BYTES].slice().buffer;
      }
      if (format !== "raw" || !(key instanceof CryptoKey)) throw new DOMException("exportKey supports only raw secret keys and spki/pkcs8 keys on this backend yet", "NotSupportedError");
      if (!key.extractable) throw new DOMException("key is not extractable", "InvalidAccessError");
      return key[KEY_BYTES].slice().buffer;
    },
    async sign(algorithm, key, data) {
      const asymmetric = ASYMMETRIC[algorithmName(algorithm).toUpperCase()];
      if (asymmetric !== undefined) {
        checkAsymmetricKey(asymmetric, key, "private", "sign");
        return asymmetricCall(() => host.signAsymmetric(asymmetric, asymmetricHash(asymmetric, algorithm, key), key[KEY_BYTES], copyBytes(data)));
      }
      if (algorithmName(algorithm).toUpperCase() !== "HMAC" || !(key instanceof CryptoKey)) {
        throw new DOMException("sign supports only HMAC on this backend yet", "NotSupportedError");
      }
      return host.hmac(key.algorithm.hash.name, key[KEY_BYTES], copyBytes(data));
    },
    async verify(algorithm, key, signature, data) {
      const asymmetric = ASYMMETRIC[algorithmName(algorithm).toUpperCase()];
      if (asymmetric !== undefined) {
        checkAsymmetricKey(asymmetric, key, "public", "verify");
        return asymmetricCall(() => host.verifyAsymmetric(asymmetric, asymmetricHash(asymmetric, algorithm, key), key[KEY_BYTES], copyBytes(signature), copyBytes(data)));
      }
      const expected = new Uint8Array(await subtle.sign(algorithm, key, data));
      const actual = copyBytes(signature);
      if (expected.length !== actual.length) return false;
      let difference = 0;
      for (let i = 0; i < expected.length; i++) difference |= expected[i] ^ actual[i];
      return difference === 0;
    },
  };
  for (const name of ["encrypt", "decrypt", "generateKey", "deriveKey", "deriveBits", "wrapKey", "unwrapKey"]) {
    subtle[name] = () => notSupported("crypto.subtle." + name);
  }
  crypto.subtle = subtle;
  define(global, "crypto", crypto);
  define(global, "CryptoKey", CryptoKey);

  // --- Blob, Headers, Request, Response (bodies held in memory; no streams yet) ---------------
  const BYTES = Symbol("bytes");
  const utf8 = new TextEncoder();
  const utf8Decoder = new TextDecoder();
  const toBase64 = (bytes) => {
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(binary);
  };
  // A plain loop: `Uint8Array.from(string, fn)` makes one JS string per byte first, which a
  // body of a few MiB (an HTTP action's request) cannot afford under the heap limit.
  const fromBase64 = (text) => {
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  };
  function bytesOf(part) {
    if (part instanceof Blob) return part[BYTES];
    if (part instanceof ArrayBuffer) return new Uint8Array(part.slice(0));
    if (ArrayBuffer.isView(part)) return new Uint8Array(part.buffer.slice(part.byteOffset, part.byteOffset + part.byteLength));
    return utf8.encode(String(part));
  }
  class Blob {
    constructor(parts = [], options = {}) {
      const chunks = Array.from(parts, bytesOf);
      const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let offset = 0;
      for (const c of chunks) { out.set(c, offset); offset += c.length; }
      this[BYTES] = out;
      this.type = options.type ? String(options.type).toLowerCase() : "";
    }
    get size() { return this[BYTES].length; }
    async text() { return utf8Decoder.decode(this[BYTES]); }
    async arrayBuffer() { return this[BYTES].slice().buffer; }
    async bytes() { return this[BYTES].slice(); }
    stream() { return streamOfBytes(this[BYTES].slice()); }
    slice(start, end, type) { const b = new Blob([], { type }); b[BYTES] = this[BYTES].slice(start, end); return b; }
    get [Symbol.toStringTag]() { return "Blob"; }
  }
  class File extends Blob {
    constructor(parts, name, options = {}) {
      super(parts, options);
      this.name = String(name);
      this.lastModified = options.lastModified ?? Date.now();
    }
  }
  const HEADER_LIST = Symbol("headerList");
  class Headers {
    constructor(init) {
      this[HEADER_LIST] = [];
      if (init instanceof Headers) init = init[HEADER_LIST];
      if (init !== undefined && init !== null) {
        if (typeof init[Symbol.iterator] === "function") {
          for (const pair of init) {
            const p = Array.from(pair);
            if (p.length !== 2) throw new TypeError("Headers init pairs must have two elements");
            this.append(p[0], p[1]);
          }
        } else {
          for (const key of Object.keys(init)) this.append(key, init[key]);
        }
      }
    }
    append(name, value) { this[HEADER_LIST].push([String(name).toLowerCase(), String(value).trim()]); }
    delete(name) { name = String(name).toLowerCase(); this[HEADER_LIST] = this[HEADER_LIST].filter(([k]) => k !== name); }
    get(name) {
      name = String(name).toLowerCase();
      const values = this[HEADER_LIST].filter(([k]) => k === name).map(([, v]) => v);
      return values.length === 0 ? null : values.join(", ");
    }
    getSetCookie() { return this[HEADER_LIST].filter(([k]) => k === "set-cookie").map(([, v]) => v); }
    has(name) { name = String(name).toLowerCase(); return this[HEADER_LIST].some(([k]) => k === name); }
    set(name, value) { this.delete(name); this.append(name, value); }
    forEach(callback, thisArg) { for (const [k, v] of this.entries()) callback.call(thisArg, v, k, this); }
    *entries() {
      const names = [...new Set(this[HEADER_LIST].map(([k]) => k))].sort();
      for (const name of names) {
        if (name === "set-cookie") for (const v of this.getSetCookie()) yield [name, v];
        else yield [name, this.get(name)];
      }
    }
    *keys() { for (const [k] of this.entries()) yield k; }
    *values() { for (const [, v] of this.entries()) yield v; }
    [Symbol.iterator]() { return this.entries(); }
    get [Symbol.toStringTag]() { return "Headers"; }
  }
  // --- ReadableStream (default readers; enough for bodies read chunk by chunk or streamed out
  // of an HTTP action; bodies are still buffered whole by the host) -----------------------------
  const STREAM = Symbol("stream");
  function finishClose(st) {
    st.state = "closed";
    for (const w of st.waiters.splice(0)) w.resolve({ value: undefined, done: true });
    for (const w of st.closedWaiters.splice(0)) w.resolve(undefined);
  }
  function pullIfNeeded(st) {
    if (st.pulling || st.state !== "readable" || st.closeRequested || typeof st.source.pull !== "function") return;
    if (st.queue.length > 0 && st.waiters.length === 0) return;
    st.pulling = true;
    st.started
      .then(() => st.source.pull(st.controller))
      .then(
        () => { st.pulling = false; if (st.waiters.length > 0) pullIfNeeded(st); },
        (e) => { st.pulling = false; st.controller.error(e); },
      );
  }
  class ReadableStreamDefaultController {
    constructor(st) { this[STREAM] = st; }
    get desiredSize() { const st = this[STREAM]; return st.state === "readable" ? 1 - st.queue.length : st.state === "closed" ? 0 : null; }
    enqueue(chunk) {
      const st = this[STREAM];
      if (st.state !== "readable" || st.closeRequested) throw new TypeError("Invalid state: the stream is closed or errored");
      if (st.waiters.length > 0) st.waiters.shift().resolve({ value: chunk, done: false });
      else st.queue.push(chunk);
    }
    close() {
      const st = this[STREAM];
      if (st.state !== "readable" || st.closeRequested) throw new TypeError("Invalid state: the stream is closed or errored");
      st.closeRequested = true;
      if (st.queue.length === 0) finishClose(st);
    }
    error(e) {
      const st = this[STREAM];
      if (st.state !== "readable") return;
      st.state = "errored";
      st.error = e;
      st.queue = [];
      for (const w of st.waiters.splice(0)) w.reject(e);
      for (const w of st.closedWaiters.splice(0)) w.reject(e);
    }
  }
  class ReadableStreamDefaultReader {
    constructor(stream) {
      if (!(stream instanceof ReadableStream)) throw new TypeError("ReadableStreamDefaultReader needs a ReadableStream");
      if (stream[STREAM].locked) throw new TypeError("ReadableStream is locked");
      stream[STREAM].locked = true;
      this[STREAM] = stream[STREAM];
    }
    read() {
      const st = this[STREAM];
      if (st === null) return Promise.reject(new TypeError("The reader was released"));
      st.disturbed = true;
      if (st.queue.length > 0) {
        const value = st.queue.shift();
        if (st.closeRequested && st.queue.length === 0) finishClose(st);
        else pullIfNeeded(st);
        return Promise.resolve({ value, done: false });
      }
      if (st.state === "closed") return Promise.resolve({ value: undefined, done: true });
      if (st.state === "errored") return Promise.reject(st.error);
      const promise = new Promise((resolve, reject) => st.waiters.push({ resolve, reject }));
      pullIfNeeded(st);
      return promise;
    }
    releaseLock() { if (this[STREAM] !== null) { this[STREAM].locked = false; this[STREAM] = null; } }
    cancel(reason) { return this[STREAM] === null ? Promise.reject(new TypeError("The reader was released")) : cancelStream(this[STREAM], reason); }
    get closed() {
      const st = this[STREAM];
      if (st === null || st.state === "closed") return Promise.resolve(undefined);
      if (st.state === "errored") return Promise.reject(st.error);
      const closed = new Promise((resolve, reject) => { st.closedWaiters.push({ resolve, reject }); });
      closed.catch(() => {}); // as in the standard: never an unhandled rejection
      return closed;
    }
  }
  function cancelStream(st, reason) {
    st.disturbed = true;
    if (st.state !== "readable") return st.state === "errored" ? Promise.reject(st.error) : Promise.resolve(undefined);
    st.queue = [];
    finishClose(st);
    return Promise.resolve(typeof st.source.cancel === "function" ? st.source.cancel(reason) : undefined).then(() => undefined);
  }
  class ReadableStream {
    constructor(source = {}, _strategy) {
      if (source === null || typeof source !== "object") throw new TypeError("The underlying source must be an object");
      const st = { state: "readable", queue: [], waiters: [], closedWaiters: [], closeRequested: false, error: undefined, source, pulling: false, locked: false, disturbed: false };
      st.controller = new ReadableStreamDefaultController(st);
      this[STREAM] = st;
      const started = typeof source.start === "function" ? source.start(st.controller) : undefined;
      st.started = Promise.resolve(started);
      st.started.then(() => pullIfNeeded(st), (e) => st.controller.error(e));
    }
    get locked() { return this[STREAM].locked; }
    getReader(options) {
      if (options && options.mode === "byob") throw new TypeError("BYOB readers are not supported by this backend yet");
      return new ReadableStreamDefaultReader(this);
    }
    cancel(reason) {
      if (this[STREAM].locked) return Promise.reject(new TypeError("Cannot cancel a locked stream"));
      return cancelStream(this[STREAM], reason);
    }
    tee() {
      const reader = this.getReader();
      const controllers = [];
      let reading = null;
      const pullBoth = () => {
        if (reading === null) {
          reading = reader.read().then(
            ({ value, done }) => {
              reading = null;
              for (const c of controllers) { try { if (done) c.close(); else c.enqueue(value); } catch (_) { /* a cancelled branch */ } }
            },
            (e) => { for (const c of controllers) c.error(e); },
          );
        }
        return reading;
      };
      const branch = () => new ReadableStream({ start(c) { controllers.push(c); }, pull: pullBoth });
      return [branch(), branch()];
    }
    async *values(options) {
      const reader = this.getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          yield value;
        }
      } finally {
        if (!(options && options.preventCancel)) await reader.cancel().catch(() => {});
        reader.releaseLock();
      }
    }
    [Symbol.asyncIterator](options) { return this.values(options); }
    static from(iterable) {
      const iterator = iterable[Symbol.asyncIterator] ? iterable[Symbol.asyncIterator]() : iterable[Symbol.iterator]();
      return new ReadableStream({
        async pull(c) { const { value, done } = await iterator.next(); if (done) c.close(); else c.enqueue(value); },
        async cancel(reason) { if (typeof iterator.return === "function") await iterator.return(reason); },
      });
    }
    get [Symbol.toStringTag]() { return "ReadableStream"; }
  }
  const isStream = (body) => body !== null && body !== undefined && !(body instanceof Uint8Array);
  const streamOfBytes = (bytes) => new ReadableStream({ start(c) { if (bytes.length > 0) c.enqueue(bytes); c.close(); } });
  // Reads a whole byte stream (any object with getReader) into one Uint8Array.
  async function readAllBytes(stream) {
    const reader = stream.getReader();
    const chunks = [];
    let size = 0;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (!(value instanceof Uint8Array)) throw new TypeError("Received a non-Uint8Array chunk from a body stream");
        chunks.push(value);
        size += value.length;
      }
    } finally {
      reader.releaseLock();
    }
    if (chunks.length === 1) return chunks[0];
    const out = new Uint8Array(size);
    let offset = 0;
    for (const c of chunks) { out.set(c, offset); offset += c.length; }
    return out;
  }
  // WritableStream (no backpressure: writes queue up in order), TransformStream, and the
  // text streams built on them.
  class WritableStreamDefaultWriter {
    constructor(stream) {
      if (stream[STREAM].locked) throw new TypeError("WritableStream is locked");
      stream[STREAM].locked = true;
      this[STREAM] = stream[STREAM];
    }
    _st() { if (this[STREAM] === null) throw new TypeError("The writer was released"); return this[STREAM]; }
    get desiredSize() { return this._st().state === "writable" ? 1 : 0; }
    get ready() { return Promise.resolve(undefined); }
    get closed() { const p = this._st().closed; return p; }
    write(chunk) {
      const st = this._st();
      if (st.state !== "writable") return Promise.reject(st.state === "errored" ? st.error : new TypeError("The stream is closing or closed"));
      st.chain = st.chain.then(() => {
        if (st.state === "errored") throw st.error;
        return typeof st.sink.write === "function" ? st.sink.write(chunk, st.controller) : undefined;
      }).catch((e) => { errorWritable(st, e); throw e; });
      return st.chain;
    }
    close() {
      const st = this._st();
      if (st.state !== "writable") return Promise.reject(new TypeError("The stream is closing or closed"));
      st.state = "closing";
      st.chain = st.chain.then(() => (typeof st.sink.close === "function" ? st.sink.close() : undefined)).then(
        () => { st.state = "closed"; st.resolveClosed(); },
        (e) => { errorWritable(st, e); throw e; },
      );
      return st.chain;
    }
    abort(reason) { return abortWritable(this._st(), reason); }
    releaseLock() { if (this[STREAM] !== null) { this[STREAM].locked = false; this[STREAM] = null; } }
  }
  function errorWritable(st, e) {
    if (st.state === "errored") return;
    st.state = "errored";
    st.error = e;
    st.rejectClosed(e);
  }
  function abortWritable(st, reason) {
    if (st.state === "closed" || st.state === "errored") return Promise.resolve(undefined);
    errorWritable(st, reason);
    return Promise.resolve(typeof st.sink.abort === "function" ? st.sink.abort(reason) : undefined).then(() => undefined);
  }
  class WritableStream {
    constructor(sink = {}, _strategy) {
      const st = { state: "writable", sink, locked: false, error: undefined };
      st.closed = new Promise((resolve, reject) => { st.resolveClosed = resolve; st.rejectClosed = reject; });
      st.closed.catch(() => {});
      st.controller = { error: (e) => errorWritable(st, e), signal: new AbortController().signal };
      st.chain = Promise.resolve(typeof sink.start === "function" ? sink.start(st.controller) : undefined);
      st.chain.catch((e) => errorWritable(st, e));
      this[STREAM] = st;
    }
    get locked() { return this[STREAM].locked; }
    getWriter() { return new WritableStreamDefaultWriter(this); }
    close() { if (this.locked) return Promise.reject(new TypeError("Cannot close a locked stream")); const w = this.getWriter(); return w.close().finally(() => w.releaseLock()); }
    abort(reason) { if (this.locked) return Promise.reject(new TypeError("Cannot abort a locked stream")); return abortWritable(this[STREAM], reason); }
    get [Symbol.toStringTag]() { return "WritableStream"; }
  }
  class TransformStream {
    constructor(transformer = {}, _writableStrategy, _readableStrategy) {
      let out;
      this.readable = new ReadableStream({ start(c) { out = c; } });
      const controller = {
        enqueue: (chunk) => out.enqueue(chunk),
        error: (e) => out.error(e),
        terminate: () => { try { out.close(); } catch (_) { /* already closed */ } },
        get desiredSize() { return out.desiredSize; },
      };
      const started = Promise.resolve(typeof transformer.start === "function" ? transformer.start(controller) : undefined);
      this.writable = new WritableStream({
        start: () => started,
        write: (chunk) => (typeof transformer.transform === "function" ? transformer.transform(chunk, controller) : controller.enqueue(chunk)),
        close: async () => {
          if (typeof transformer.flush === "function") await transformer.flush(controller);
          controller.terminate();
        },
        abort: (reason) => out.error(reason),
      });
    }
    get [Symbol.toStringTag]() { return "TransformStream"; }
  }
  ReadableStream.prototype.pipeTo = async function pipeTo(destination, options = {}) {
    const reader = this.getReader();
    const writer = destination.getWriter();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        await writer.write(value);
      }
      if (!options.preventClose) await writer.close();
    } catch (e) {
      if (!options.preventAbort) await writer.abort(e).catch(() => {});
      if (!options.preventCancel) await reader.cancel(e).catch(() => {});
      throw e;
    } finally {
      reader.releaseLock();
      writer.releaseLock();
    }
  };
  ReadableStream.prototype.pipeThrough = function pipeThrough(transform, options) {
    this.pipeTo(transform.writable, options).catch(() => {});
    return transform.readable;
  };
  class TextEncoderStream extends TransformStream {
    constructor() {
      const encoder = new TextEncoder();
      super({ transform(chunk, c) { const bytes = encoder.encode(String(chunk)); if (bytes.length > 0) c.enqueue(bytes); } });
    }
    get encoding() { return "utf-8"; }
  }
  class TextDecoderStream extends TransformStream {
    constructor(label = "utf-8", options = {}) {
      const decoder = new TextDecoder(label, options);
      super({
        transform(chunk, c) { const text = decoder.decode(chunk, { stream: true }); if (text.length > 0) c.enqueue(text); },
        flush(c) { const text = decoder.decode(); if (text.length > 0) c.enqueue(text); },
      });
      this.fatal = decoder.fatal;
      this.ignoreBOM = decoder.ignoreBOM;
    }
    get encoding() { return "utf-8"; }
  }
  define(global, "WritableStream", WritableStream);
  define(global, "WritableStreamDefaultWriter", WritableStreamDefaultWriter);
  define(global, "TransformStream", TransformStream);
  define(global, "TextEncoderStream", TextEncoderStream);
  define(global, "TextDecoderStream", TextDecoderStream);
  define(global, "ReadableStream", ReadableStream);
  define(global, "ReadableStreamDefaultReader", ReadableStreamDefaultReader);
  define(global, "ReadableStreamDefaultController", ReadableStreamDefaultController);

  // FormData: string entries and File entries, in order.
  const ENTRIES = Symbol("entries");
  function formEntry(name, value, filename) {
    name = String(name);
    if (value instanceof Blob) {
      if (!(value instanceof File) || filename !== undefined) {
        value = new File([value], filename !== undefined ? String(filename) : value instanceof File ? value.name : "blob", { type: value.type });
      }
      return [name, value];
    }
    return [name, String(value)];
  }
  class FormData {
    constructor(form) {
      if (form !== undefined) throw new TypeError("FormData from an HTML form element is not supported");
      this[ENTRIES] = [];
    }
    append(name, value, filename) { this[ENTRIES].push(formEntry(name, value, filename)); }
    delete(name) { name = String(name); this[ENTRIES] = this[ENTRIES].filter(([k]) => k !== name); }
    get(name) { name = String(name); const e = this[ENTRIES].find(([k]) => k === name); return e === undefined ? null : e[1]; }
    getAll(name) { name = String(name); return this[ENTRIES].filter(([k]) => k === name).map(([, v]) => v); }
    has(name) { name = String(name); return this[ENTRIES].some(([k]) => k === name); }
    set(name, value, filename) {
      const entry = formEntry(name, value, filename);
      const i = this[ENTRIES].findIndex(([k]) => k === entry[0]);
      if (i === -1) { this[ENTRIES].push(entry); return; }
      this[ENTRIES][i] = entry;
      this[ENTRIES] = this[ENTRIES].filter(([k], j) => j <= i || k !== entry[0]);
    }
    forEach(callback, thisArg) { for (const [k, v] of this[ENTRIES]) callback.call(thisArg, v, k, this); }
    *entries() { for (const [k, v] of this[ENTRIES]) yield [k, v]; }
    *keys() { for (const [k] of this[ENTRIES]) yield k; }
    *values() { for (const [, v] of this[ENTRIES]) yield v; }
    [Symbol.iterator]() { return this.entries(); }
    get [Symbol.toStringTag]() { return "FormData"; }
  }
  const escapeFormName = (name) => name.replace(/\r\n|\r|\n/g, "\r\n").replace(/"/g, "%22").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
  // multipart/form-data encoding of a FormData: [bytes, content-type].
  function encodeMultipart(form) {
    let boundary = "----HullFormBoundary";
    for (let i = 0; i < 16; i++) boundary += "0123456789abcdef"[Math.floor(Math.random() * 16)];
    const parts = [];
    for (const [name, value] of form[ENTRIES]) {
      let head = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + escapeFormName(name) + "\"";
      if (typeof value === "string") {
        parts.push(utf8.encode(head + "\r\n\r\n" + value.replace(/\r\n|\r|\n/g, "\r\n") + "\r\n"));
      } else {
        head += "; filename=\"" + escapeFormName(value.name) + "\"\r\nContent-Type: " + (value.type || "application/octet-stream") + "\r\n\r\n";
        parts.push(utf8.encode(head), value[BYTES], utf8.encode("\r\n"));
      }
    }
    parts.push(utf8.encode("--" + boundary + "--\r\n"));
    return [new Blob(parts)[BYTES], "multipart/form-data; boundary=" + boundary];
  }
  function indexOfBytes(haystack, needle, from) {
    const first = needle[0];
    outer: for (let i = haystack.indexOf(first, from); i !== -1 && i <= haystack.length - needle.length; i = haystack.indexOf(first, i + 1)) {
      for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
      return i;
    }
    return -1;
  }
  // Parses a body as FormData (urlencoded or multipart), like Body.formData().
  function parseFormData(bytes, contentType) {
    const type = (contentType || "").split(";")[0].trim().toLowerCase();
    const form = new FormData();
    if (type === "application/x-www-form-urlencoded") {
      for (const [k, v] of new URLSearchParams(utf8Decoder.decode(bytes))) form.append(k, v);
      return form;
    }
    if (type !== "multipart/form-data") throw new TypeError("Could not parse content as FormData: unsupported content-type " + JSON.stringify(contentType || ""));
    const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
    if (!match) throw new TypeError("Could not parse content as FormData: multipart body without a boundary");
    const delimiter = utf8.encode("--" + (match[1] || match[2]));
    const crlf2 = utf8.encode("\r\n\r\n");
    let at = indexOfBytes(bytes, delimiter, 0);
    if (at === -1) throw new TypeError("Could not parse content as FormData: boundary not found");
    for (;;) {
      at += delimiter.length;
      if (bytes[at] === 45 && bytes[at + 1] === 45) break; // "--": the closing delimiter
      if (bytes[at] === 13 && bytes[at + 1] === 10) at += 2;
      const headEnd = indexOfBytes(bytes, crlf2, at);
      if (headEnd === -1) throw new TypeError("Could not parse content as FormData: truncated part headers");
      const headers = new Headers();
      for (const line of utf8Decoder.decode(bytes.subarray(at, headEnd)).split("\r\n")) {
        const colon = line.indexOf(":");
        if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      }
      const next = indexOfBytes(bytes, delimiter, headEnd + 4);
      if (next === -1) throw new TypeError("Could not parse content as FormData: missing closing boundary");
      let end = next;
      if (bytes[end - 2] === 13 && bytes[end - 1] === 10) end -= 2;
      const content = bytes.slice(headEnd + 4, end);
      const disposition = headers.get("content-disposition") || "";
      const param = (key) => {
        const m = new RegExp(";\\s*" + key + "=(?:\"((?:[^\"\\\\]|\\\\.)*)\"|([^;\\s]*))", "i").exec(disposition);
        return m ? (m[1] !== undefined ? m[1].replace(/%22/g, "\"").replace(/%0D/g, "\r").replace(/%0A/g, "\n") : m[2]) : null;
      };
      const name = param("name");
      if (name === null) throw new TypeError("Could not parse content as FormData: a part has no name");
      const filename = param("filename");
      if (filename === null) form.append(name, utf8Decoder.decode(content));
      else form.append(name, new File([content], filename, { type: headers.get("content-type") || "" }));
      at = next;
    }
    return form;
  }
  // Extracts a body: [bytes | null, default content-type | null].
  function extractBody(body) {
    if (body === undefined || body === null) return [null, null];
    if (typeof body === "string") return [utf8.encode(body), "text/plain;charset=UTF-8"];
    if (body instanceof FormData) return encodeMultipart(body);
    if (body instanceof URLSearchParams) return [utf8.encode(body.toString()), "application/x-www-form-urlencoded;charset=UTF-8"];
    if (body instanceof Blob) return [body[BYTES].slice(), body.type || null];
    if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return [bytesOf(body), null];
    if (typeof body === "object" && typeof body.getReader === "function") {
      if (body instanceof ReadableStream && (body.locked || body[STREAM].disturbed)) throw new TypeError("The body stream is locked or disturbed");
      return [body, null];
    }
    return [utf8.encode(String(body)), "text/plain;charset=UTF-8"];
  }
  const BODY = Symbol("body");
  const USED = Symbol("used");
  class Body {
    get bodyUsed() {
      const b = this[BODY];
      return this[USED] || (b instanceof ReadableStream && b[STREAM].disturbed);
    }
    // The body as a stream (made on first access when the body is in memory).
    get body() {
      const b = this[BODY];
      if (b === null) return null;
      if (isStream(b)) return b;
      const stream = streamOfBytes(b);
      this[BODY] = stream;
      return stream;
    }
    async _consume() {
      if (this.bodyUsed) throw new TypeError("Body is unusable: Body has already been read");
      this[USED] = true;
      const b = this[BODY];
      if (b === null) return new Uint8Array(0);
      if (isStream(b)) {
        if (b.locked) throw new TypeError("Body is unusable: the body stream is locked");
        return await readAllBytes(b);
      }
      return b;
    }
    // Tees a streamed body so that a clone gets its own branch.
    _cloneBody() {
      if (this.bodyUsed) throw new TypeError("Body has already been used");
      const b = this[BODY];
      if (!isStream(b)) return b;
      const [mine, theirs] = b.tee();
      this[BODY] = mine;
      return theirs;
    }
    async text() { return utf8Decoder.decode(await this._consume()); }
    async json() { return JSON.parse(await this.text()); }
    async arrayBuffer() { return (await this._consume()).slice().buffer; }
    async bytes() { return (await this._consume()).slice(); }
    async blob() { return new Blob([await this._consume()], { type: this.headers.get("content-type") || "" }); }
    async formData() {
      if (!live) throw notInQueries("formData()");
      return parseFormData(await this._consume(), this.headers.get("content-type"));
    }
  }
  const METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];
  class Request extends Body {
    constructor(input, init = {}) {
      super();
      const from = input instanceof Request ? input : null;
      this.url = from ? from.url : new URL(String(input)).href;
      const method = init.method !== undefined ? String(init.method) : from ? from.method : "GET";
      this.method = METHODS.includes(method.toUpperCase()) ? method.toUpperCase() : method;
      this.headers = new Headers(init.headers !== undefined ? init.headers : from ? from.headers : undefined);
      let bytes = null, type = null;
      if (init.body !== undefined && init.body !== null) {
        if (this.method === "GET" || this.method === "HEAD") throw new TypeError("Request with GET/HEAD method cannot have body.");
        [bytes, type] = extractBody(init.body);
      } else if (from) {
        bytes = from._cloneBody();
      }
      if (type !== null && !this.headers.has("content-type")) this.headers.set("content-type", type);
      this[BODY] = bytes;
      this[USED] = false;
      this.signal = init.signal ?? null;
      this.redirect = init.redirect ?? "follow";
    }
    clone() { return new Request(this); }
    get [Symbol.toStringTag]() { return "Request"; }
  }
  class Response extends Body {
    constructor(body = null, init = {}) {
      super();
      const status = init.status === undefined ? 200 : Number(init.status);
      if (!Number.isInteger(status) || status < 200 || status > 599) throw new RangeError("The status provided (" + init.status + ") is outside the range [200, 599].");
      this.status = status;
      this.statusText = init.statusText === undefined ? "" : String(init.statusText);
      this.headers = new Headers(init.headers);
      const [bytes, type] = extractBody(body);
      if (type !== null && !this.headers.has("content-type")) this.headers.set("content-type", type);
      this[BODY] = bytes;
      this[USED] = false;
      this.type = "default";
      this.url = "";
      this.redirected = false;
    }
    get ok() { return this.status >= 200 && this.status < 300; }
    clone() {
      const body = this._cloneBody();
      const r = new Response(null, this);
      r[BODY] = body;
      return r;
    }
    static json(data, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
      return new Response(JSON.stringify(data), { ...init, headers });
    }
    static redirect(url, status = 302) {
      return new Response(null, { status, headers: { location: new URL(String(url)).href } });
    }
    static error() { const r = new Response(null, { status: 200 }); r.type = "error"; return r; }
    get [Symbol.toStringTag]() { return "Response"; }
  }
  define(global, "Blob", Blob);
  define(global, "File", File);
  define(global, "Headers", Headers);
  define(global, "FormData", FormData);
  define(global, "Request", Request);
  define(global, "Response", Response);

  // Streamed HTTP action responses, by id, until runHttpRequest reads them.
  const responseStreams = new Map();
  let nextResponseStream = 1;
  // The host's entry for HTTP actions: the router's runRequest, then a streamed response body
  // (the handler may still be writing it) read to the end.
  // The request body arrives beside the JSON arguments (an ArrayBuffer, or undefined) and is
  // taken by requestFromConvexJson without copying.
  let pendingRequestBody = null;
  // The response body leaves the same way: the JSON says `hullBody: true` and the host takes
  // the bytes with takeResponseBody.
  let responseBody = null;
  async function runHttpRequest(router, argsStr, route, body) {
    pendingRequestBody = body === undefined || body === null ? null : new Uint8Array(body);
    responseBody = null;
    const json = await router.runRequest(argsStr, route);
    const out = JSON.parse(json);
    if (out.streamId === undefined || out.streamId === null) return json;
    const stashed = responseStreams.get(out.streamId);
    responseStreams.delete(out.streamId);
    delete out.streamId;
    responseBody = isStream(stashed) ? await readAllBytes(stashed) : stashed;
    out.hullBody = responseBody !== null;
    return JSON.stringify(out);
  }
  function takeResponseBody() {
    const bytes = responseBody;
    responseBody = null;
    return bytes === null ? undefined : bytes;
  }

  // JS-to-JS syscalls the convex library makes (`Convex.jsSyscall`).
  if (typeof global.Convex === "object" && global.Convex !== null) {
    define(global.Convex, "jsSyscall", function jsSyscall(op, args) {
      switch (op) {
        case "requestFromConvexJson": {
          const { url, method, headerPairs, body, hullBody } = args.convexJson;
          if (hullBody) {
            const request = new Request(url, { method, headers: headerPairs });
            request[BODY] = pendingRequestBody;
            pendingRequestBody = null;
            return request;
          }
          return new Request(url, { method, headers: headerPairs, body: body === null || body === undefined ? undefined : fromBase64(body) });
        }
        case "convexJsonFromResponse": {
          const response = args.response;
          if (!(response instanceof Response)) throw new Error("The HTTP action did not return a Response");
          const headerPairs = [];
          for (const [k, v] of response.headers[HEADER_LIST]) headerPairs.push([k, v]);
          const bytes = response[BODY];
          if (bytes === null) return { status: response.status, headerPairs, body: null };
          // Bytes or a stream (read to its end once the handler has returned), taken by
          // runHttpRequest and handed to the host beside the JSON.
          const streamId = nextResponseStream++;
          responseStreams.set(streamId, bytes);
          return { status: response.status, headerPairs, body: null, streamId };
        }
        default:
          throw new Error(op + " is not supported by this backend yet");
      }
    });
  }

  // --- performance, timers and fetch: unavailable to deterministic functions --------------------
  // QuickJS's own performance.now is not configurable: replace the whole object.
  const realPerformanceNow = performance.now.bind(performance);
  const timeOrigin = performance.timeOrigin;
  let perfSince = null;
  define(global, "performance", {
    // Actions: the real clock. Mutations: time elapsed since the request began (it only ever
    // increases). Queries: fixed at 0, so a query's result cannot depend on timing.
    now() { return live ? realPerformanceNow() : perfSince === null ? 0 : realPerformanceNow() - perfSince; },
    get timeOrigin() { return live ? timeOrigin : frozenNow; },
    toJSON() { return { timeOrigin: this.timeOrigin }; },
    // User timing: marks and measures on the same clock, kept for the request.
    mark(name, options = {}) {
      const entry = { name: String(name), entryType: "mark", startTime: options.startTime ?? performance.now(), duration: 0, detail: options.detail ?? null };
      perfEntries.push(entry);
      return entry;
    },
    measure(name, start, end) {
      const at = (which, fallback) => {
        if (which === undefined) return fallback;
        if (typeof which === "number") return which;
        const marks = perfEntries.filter((e) => e.entryType === "mark" && e.name === which);
        if (marks.length === 0) throw new DOMException("The mark '" + which + "' does not exist.", "SyntaxError");
        return marks[marks.length - 1].startTime;
      };
      let detail = null;
      if (start !== null && typeof start === "object") { detail = start.detail ?? null; end = start.end; start = start.start; }
      const startTime = at(start, 0);
      const endTime = at(end, performance.now());
      const entry = { name: String(name), entryType: "measure", startTime, duration: endTime - startTime, detail };
      perfEntries.push(entry);
      return entry;
    },
    getEntries() { return perfEntries.slice(); },
    getEntriesByName(name, type) { return perfEntries.filter((e) => e.name === name && (type === undefined || e.entryType === type)); },
    getEntriesByType(type) { return perfEntries.filter((e) => e.entryType === type); },
    clearMarks(name) { perfEntries = perfEntries.filter((e) => e.entryType !== "mark" || (name !== undefined && e.name !== name)); },
    clearMeasures(name) { perfEntries = perfEntries.filter((e) => e.entryType !== "measure" || (name !== undefined && e.name !== name)); },
  });
  let perfEntries = [];
  const notInQueries = (what) =>
    new Error("Can't use " + what + " in queries and mutations. Please consider using an action.");
  const SIGNAL_DEADLINE = Symbol("signalDeadline");
  // fetch (actions and HTTP actions): the host performs the request (requests started in the
  // same turn run in parallel); network failures reject with a TypeError, as in browsers.
  define(global, "fetch", async function fetch(input, init) {
    if (!live) throw notInQueries("fetch()");
    const request = new Request(input, init);
    const signal = request.signal;
    if (signal && signal.aborted) throw signal.reason;
    const headers = [];
    for (const pair of request.headers[HEADER_LIST]) headers.push([pair[0], pair[1]]);
    const body = isStream(request[BODY]) ? await readAllBytes(request[BODY]) : request[BODY];
    const deadline = signal ? signal[SIGNAL_DEADLINE] : undefined;
    const timeoutMs = deadline === undefined ? null : Math.max(0, deadline - OriginalDate.now());
    const meta = JSON.stringify({ method: request.method, url: request.url, headers, redirect: request.redirect, timeoutMs });
    let answer;
    try {
      answer = await (body === null ? host.fetch(meta) : host.fetch(meta, body));
    } catch (e) {
      if (deadline !== undefined && OriginalDate.now() >= deadline) throw new DOMException("The operation timed out.", "TimeoutError");
      throw new TypeError("fetch failed: " + (e && e.message !== undefined ? e.message : String(e)));
    }
    if (signal && signal.aborted) throw signal.reason;
    const info = JSON.parse(answer[0]);
    const response = new Response(null, { statusText: info.statusText, headers: info.headers });
    response.status = info.status;
    response[BODY] = new Uint8Array(answer[1]);
    response.url = info.url;
    response.redirected = info.redirected;
    return response;
  });
  // Timers (actions only): a JS-side queue; the host sleeps until the next one is due when
  // nothing else can make progress, then calls runDueTimers.
  const scheduled = new Map();
  let nextTimerId = 1;
  function addTimer(name, callback, delay, args, repeat) {
    if (!live) throw notInQueries(name);
    if (typeof callback !== "function") throw new TypeError("The callback of " + name + " must be a function");
    const ms = Math.max(0, Number(delay) || 0);
    const id = nextTimerId++;
    scheduled.set(id, { due: OriginalDate.now() + ms, callback, args, interval: repeat ? Math.max(1, ms) : null });
    return id;
  }
  define(global, "setTimeout", function setTimeout(callback, delay, ...args) { return addTimer("setTimeout", callback, delay, args, false); });
  define(global, "setInterval", function setInterval(callback, delay, ...args) { return addTimer("setInterval", callback, delay, args, true); });
  define(global, "clearTimeout", function clearTimeout(id) { scheduled.delete(id); });
  define(global, "clearInterval", function clearInterval(id) { scheduled.delete(id); });
  function nextTimerDelay() {
    let due = Infinity;
    for (const timer of scheduled.values()) due = Math.min(due, timer.due);
    return due === Infinity ? -1 : Math.max(0, due - OriginalDate.now());
  }
  function runDueTimers() {
    const now = OriginalDate.now();
    const due = [...scheduled.entries()].filter(([, t]) => t.due <= now).sort((x, y) => x[1].due - y[1].due || x[0] - y[0]);
    for (const [id, timer] of due) {
      if (!scheduled.has(id)) continue; // cleared by an earlier callback
      if (timer.interval === null) scheduled.delete(id);
      else timer.due = now + timer.interval;
      timer.callback(...timer.args);
    }
  }

  // --- misc globals -----------------------------------------------------------------------------
  define(global, "self", global);
  // process.env: the deployment's environment variables, read through the host.
  const env = new Proxy(Object.create(null), {
    get(_, name) { return typeof name === "string" ? host.envGet(name) ?? undefined : undefined; },
    has(_, name) { return typeof name === "string" && host.envGet(name) !== undefined; },
    ownKeys() { return host.envKeys(); },
    getOwnPropertyDescriptor(_, name) {
      const value = typeof name === "string" ? host.envGet(name) : undefined;
      return value === undefined ? undefined : { value, enumerable: true, configurable: true, writable: false };
    },
    set() { return false; },
    defineProperty() { return false; },
    deleteProperty() { return false; },
  });
  define(global, "process", { env });
  // structuredClone: the structured clone algorithm for the types user code passes around
  // (primitives, plain objects, arrays, Date, RegExp, Map, Set, ArrayBuffer and views, Error),
  // preserving shared references and cycles; functions and symbols throw DataCloneError.
  define(global, "structuredClone", function structuredClone(value) {
    const seen = new Map();
    const fail = (what) => { throw new DOMException(what + " could not be cloned.", "DataCloneError"); };
    function clone(v) {
      if (typeof v === "function") fail(String(v.name || "function"));
      if (typeof v === "symbol") fail(v.toString());
      if (v === null || typeof v !== "object") return v;
      if (seen.has(v)) return seen.get(v);
      let out;
      if (Array.isArray(v)) {
        out = new Array(v.length);
        seen.set(v, out);
        for (let i = 0; i < v.length; i++) if (i in v) out[i] = clone(v[i]);
        return out;
      }
      if (v instanceof OriginalDate) { out = new OriginalDate(v.getTime()); seen.set(v, out); return out; }
      if (v instanceof RegExp) { out = new RegExp(v.source, v.flags); seen.set(v, out); return out; }
      if (v instanceof ArrayBuffer) { out = v.slice(0); seen.set(v, out); return out; }
      if (ArrayBuffer.isView(v)) {
        const buffer = clone(v.buffer);
        out = v instanceof DataView ? new DataView(buffer, v.byteOffset, v.byteLength) : new v.constructor(buffer, v.byteOffset, v.length);
        seen.set(v, out);
        return out;
      }
      if (v instanceof Map) { out = new Map(); seen.set(v, out); for (const [k, x] of v) out.set(clone(k), clone(x)); return out; }
      if (v instanceof Set) { out = new Set(); seen.set(v, out); for (const x of v) out.add(clone(x)); return out; }
      if (v instanceof Error) {
        out = new (global[v.name] && global[v.name].prototype instanceof Error ? global[v.name] : Error)(v.message);
        seen.set(v, out);
        if (v.stack !== undefined) out.stack = String(v.stack);
        if ("cause" in v) out.cause = clone(v.cause);
        return out;
      }
      if (v instanceof Blob) { out = v.slice(0, v.size, v.type); seen.set(v, out); return out; }
      out = {};
      seen.set(v, out);
      for (const key of Object.keys(v)) out[key] = clone(v[key]);
      return out;
    }
    return clone(value);
  });

  // --- Event, EventTarget, AbortController / AbortSignal --------------------------------------
  class Event {
    constructor(type, options = {}) {
      this.type = String(type);
      this.bubbles = !!options.bubbles;
      this.cancelable = !!options.cancelable;
      this.defaultPrevented = false;
      this.timeStamp = Date.now();
      this.target = null;
      this.currentTarget = null;
    }
    preventDefault() { if (this.cancelable) this.defaultPrevented = true; }
    stopPropagation() {}
    stopImmediatePropagation() { this._stopped = true; }
  }
  const LISTENERS = Symbol("listeners");
  class EventTarget {
    constructor() { this[LISTENERS] = new Map(); }
    addEventListener(type, listener, options = {}) {
      if (listener === null || listener === undefined) return;
      const list = this[LISTENERS].get(type) || [];
      if (list.some((l) => l.listener === listener)) return;
      list.push({ listener, once: typeof options === "object" && !!options.once });
      this[LISTENERS].set(type, list);
    }
    removeEventListener(type, listener) {
      const list = this[LISTENERS].get(type);
      if (list) this[LISTENERS].set(type, list.filter((l) => l.listener !== listener));
    }
    dispatchEvent(event) {
      event.target = this;
      event.currentTarget = this;
      for (const entry of [...(this[LISTENERS].get(event.type) || [])]) {
        if (entry.once) this.removeEventListener(event.type, entry.listener);
        if (typeof entry.listener === "function") entry.listener.call(this, event);
        else entry.listener.handleEvent(event);
        if (event._stopped) break;
      }
      const handler = this["on" + event.type];
      if (typeof handler === "function") handler.call(this, event);
      return !event.defaultPrevented;
    }
  }
  class AbortSignal extends EventTarget {
    constructor() { super(); this.aborted = false; this.reason = undefined; this.onabort = null; }
    throwIfAborted() { if (this.aborted) throw this.reason; }
    static abort(reason) { const c = new AbortController(); c.abort(reason); return c.signal; }
    static timeout(ms) {
      const c = new AbortController();
      setTimeout(() => c.abort(new DOMException("The operation timed out.", "TimeoutError")), ms);
      // fetch() cannot be interrupted by the timer (the host blocks): it passes this on.
      c.signal[SIGNAL_DEADLINE] = OriginalDate.now() + Math.max(0, Number(ms) || 0);
      return c.signal;
    }
    static any(signals) {
      const c = new AbortController();
      for (const s of signals) {
        if (s.aborted) { c.abort(s.reason); break; }
        s.addEventListener("abort", () => c.abort(s.reason), { once: true });
        if (s[SIGNAL_DEADLINE] !== undefined) c.signal[SIGNAL_DEADLINE] = Math.min(c.signal[SIGNAL_DEADLINE] ?? Infinity, s[SIGNAL_DEADLINE]);
      }
      return c.signal;
    }
  }
  class AbortController {
    constructor() { this.signal = new AbortSignal(); }
    abort(reason) {
      const signal = this.signal;
      if (signal.aborted) return;
      signal.aborted = true;
      signal.reason = reason === undefined ? new DOMException("This operation was aborted", "AbortError") : reason;
      signal.dispatchEvent(new Event("abort"));
    }
  }
  define(global, "Event", Event);
  define(global, "EventTarget", EventTarget);
  define(global, "AbortSignal", AbortSignal);
  define(global, "AbortController", AbortController);

  // --- host helpers (reachable only from Rust, never from user code) --------------------------
  const CONVEX_ERROR_FLAG = "ConvexErrorSymbol";
  function describeError(e) {
    let out;
    if (e !== null && typeof e === "object" && ("message" in e || e instanceof Error)) {
      const isConvexError = typeof e[CONVEX_ERROR_FLAG] === "symbol" && e[e[CONVEX_ERROR_FLAG]] === true;
      let convexErrorData = isConvexError && typeof e.data === "string" ? e.data : null;
      // A ConvexError the library did not serialize (an unhandled rejection): plain JSON data.
      if (convexErrorData === null && e[Symbol.for("ConvexError")] === true) {
        try { convexErrorData = JSON.stringify(e.data === undefined ? null : e.data); } catch (_) { convexErrorData = null; }
      }
      out = {
        name: e.name === undefined ? null : String(e.name),
        message: String(e.message),
        stack: typeof e.stack === "string" ? e.stack : null,
        convexErrorData,
      };
    } else {
      let text;
      try { text = typeof e === "string" ? e : inspect(e, 1, []); } catch (_) { text = "[unprintable]"; }
      out = { name: null, message: text, stack: null, convexErrorData: null };
    }
    return JSON.stringify(out);
  }
  function handlerPosition(f) {
    const handler = f && typeof f._handler === "function" ? f._handler : typeof f === "function" ? f : null;
    if (handler === null || typeof handler.lineNumber !== "number") return null;
    return { fileName: String(handler.fileName), line: handler.lineNumber, column: handler.columnNumber };
  }
  function analyzeModule(ns) {
    const functions = [];
    for (const name of Object.keys(ns)) {
      const f = ns[name];
      if (f === null || (typeof f !== "object" && typeof f !== "function")) continue;
      const kinds = ["isQuery", "isMutation", "isAction"].filter((k) => k in f);
      if (kinds.length !== 1) continue;
      const udfType = { isQuery: "query", isMutation: "mutation", isAction: "action" }[kinds[0]];
      if ("isPublic" in f && "isInternal" in f) continue;
      const visibility = "isPublic" in f ? "public" : "isInternal" in f ? "internal" : null;
      let args = null, returns = null;
      if (typeof f.exportArgs === "function") args = f.exportArgs();
      else if (f.exportArgs !== undefined) throw new Error(`exportArgs of ${name} is not a function`);
      if (typeof f.exportReturns === "function") returns = f.exportReturns();
      functions.push({ name, udfType, visibility, args, returns, pos: handlerPosition(f) });
    }
    let httpRoutes = null;
    const d = ns.default;
    if (d && typeof d === "object" && d.isRouter === true && typeof d.getRoutes === "function") {
      httpRoutes = d.getRoutes().map(([path, method, handler]) => ({ path, method, pos: handlerPosition(handler) }));
    }
    let crons = null;
    if (d && typeof d === "object" && d.isCrons === true && typeof d.export === "function") {
      crons = d.export();
    }
    return JSON.stringify({ functions, httpRoutes, crons });
  }

  // auth.config.js's default export: `{ providers: [...] }`. Fields that are undefined (an
  // unset environment variable) are listed so the host can name the variable.
  function exportAuthConfig(ns) {
    const config = ns.default;
    if (config === null || typeof config !== "object") throw new Error("auth.config.js must export a default object with `providers`");
    const providers = config.providers === undefined ? [] : config.providers;
    if (!Array.isArray(providers)) throw new Error("`providers` in auth.config.js must be an array");
    const undefinedFields = [];
    const out = providers.map((provider, i) => {
      if (provider === null || typeof provider !== "object") throw new Error("every auth provider must be an object");
      const copy = {};
      for (const key of Object.keys(provider)) {
        if (provider[key] === undefined) undefinedFields.push(i + "]." + key);
        else copy[key] = provider[key];
      }
      return copy;
    });
    return JSON.stringify({ providers: out, undefinedFields });
  }

  return {
    describeError,
    analyzeModule,
    exportAuthConfig,
    runHttpRequest,
    takeResponseBody,
    // Called before every request (and before module import, with the import-phase values).
    nextTimerDelay,
    runDueTimers,
    begin(now, s0, s1, s2, s3, isLive, perfElapsed) {
      scheduled.clear();
      responseStreams.clear();
      perfEntries = [];
      frozenNow = now;
      live = !!isLive;
      perfSince = perfElapsed ? realPerformanceNow() : null;
      a = s0; b = s1; c = s2; d = s3 | 1;
      for (let i = 0; i < 12; i++) random();
    },
  };
}
