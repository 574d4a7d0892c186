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
    decode(input) {
      if (input === undefined) return "";
      const bytes = input instanceof ArrayBuffer ? new Uint8Array(input) : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
      let out = "";
      let i = 0;
      if (!this.ignoreBOM && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3;
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
  const subtle = {
    async digest(algorithm, data) {
      const result = host.digest(hashName(algorithm), copyBytes(data));
      if (result === undefined || result === null) throw new DOMException("Unrecognized algorithm name", "NotSupportedError");
      return result;
    },
    async importKey(format, keyData, algorithm, extractable, usages) {
      if (format !== "raw" || algorithmName(algorithm).toUpperCase() !== "HMAC") {
        throw new DOMException("importKey supports only raw HMAC keys on this backend yet", "NotSupportedError");
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
      if (format !== "raw" || !(key instanceof CryptoKey)) throw new DOMException("exportKey supports only raw keys", "NotSupportedError");
      if (!key.extractable) throw new DOMException("key is not extractable", "InvalidAccessError");
      return key[KEY_BYTES].slice().buffer;
    },
    async sign(algorithm, key, data) {
      if (algorithmName(algorithm).toUpperCase() !== "HMAC" || !(key instanceof CryptoKey)) {
        throw new DOMException("sign supports only HMAC on this backend yet", "NotSupportedError");
      }
      return host.hmac(key.algorithm.hash.name, key[KEY_BYTES], copyBytes(data));
    },
    async verify(algorithm, key, signature, data) {
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
  const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
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
  // Extracts a body: [bytes | null, default content-type | null].
  function extractBody(body) {
    if (body === undefined || body === null) return [null, null];
    if (typeof body === "string") return [utf8.encode(body), "text/plain;charset=UTF-8"];
    if (body instanceof URLSearchParams) return [utf8.encode(body.toString()), "application/x-www-form-urlencoded;charset=UTF-8"];
    if (body instanceof Blob) return [body[BYTES].slice(), body.type || null];
    if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return [bytesOf(body), null];
    if (typeof body === "object" && typeof body.getReader === "function") throw new TypeError("Streaming bodies are not supported by this backend yet");
    return [utf8.encode(String(body)), "text/plain;charset=UTF-8"];
  }
  const BODY = Symbol("body");
  const USED = Symbol("used");
  class Body {
    get bodyUsed() { return this[USED]; }
    get body() { return null; }
    _consume() {
      if (this[USED]) throw new TypeError("Body is unusable: Body has already been read");
      this[USED] = true;
      return this[BODY] === null ? new Uint8Array(0) : this[BODY];
    }
    async text() { return utf8Decoder.decode(this._consume()); }
    async json() { return JSON.parse(await this.text()); }
    async arrayBuffer() { return this._consume().slice().buffer; }
    async bytes() { return this._consume().slice(); }
    async blob() { return new Blob([this._consume()], { type: this.headers.get("content-type") || "" }); }
    async formData() { throw new Error("Request.formData() is not supported by this backend yet"); }
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
        bytes = from[BODY];
      }
      if (type !== null && !this.headers.has("content-type")) this.headers.set("content-type", type);
      this[BODY] = bytes;
      this[USED] = false;
      this.signal = init.signal ?? null;
      this.redirect = init.redirect ?? "follow";
    }
    clone() { if (this[USED]) throw new TypeError("Body has already been used"); return new Request(this); }
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
    clone() { if (this[USED]) throw new TypeError("Body has already been used"); const r = new Response(null, this); r[BODY] = this[BODY]; return r; }
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
  define(global, "Request", Request);
  define(global, "Response", Response);

  // JS-to-JS syscalls the convex library makes (`Convex.jsSyscall`).
  if (typeof global.Convex === "object" && global.Convex !== null) {
    define(global.Convex, "jsSyscall", function jsSyscall(op, args) {
      switch (op) {
        case "requestFromConvexJson": {
          const { url, method, headerPairs, body } = args.convexJson;
          return new Request(url, { method, headers: headerPairs, body: body === null || body === undefined ? undefined : fromBase64(body) });
        }
        case "convexJsonFromResponse": {
          const response = args.response;
          if (!(response instanceof Response)) throw new Error("The HTTP action did not return a Response");
          const headerPairs = [];
          for (const [k, v] of response.headers[HEADER_LIST]) headerPairs.push([k, v]);
          const bytes = response[BODY];
          return { status: response.status, headerPairs, body: bytes === null ? null : toBase64(bytes) };
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
  define(global, "performance", {
    now() { return live ? realPerformanceNow() : 0; },
    get timeOrigin() { return live ? timeOrigin : frozenNow; },
    toJSON() { return { timeOrigin: this.timeOrigin }; },
  });
  const notInQueries = (what) =>
    new Error("Can't use " + what + " in queries and mutations. Please consider using an action.");
  const notYet = (what) => new Error(what + " is not supported by this backend yet.");
  define(global, "fetch", async function fetch() {
    throw live ? notYet("fetch()") : notInQueries("fetch()");
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
    static timeout(ms) { const c = new AbortController(); setTimeout(() => c.abort(new DOMException("The operation timed out.", "TimeoutError")), ms); return c.signal; }
    static any(signals) {
      const c = new AbortController();
      for (const s of signals) {
        if (s.aborted) { c.abort(s.reason); break; }
        s.addEventListener("abort", () => c.abort(s.reason), { once: true });
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
      out = {
        name: e.name === undefined ? null : String(e.name),
        message: String(e.message),
        stack: typeof e.stack === "string" ? e.stack : null,
        convexErrorData: isConvexError && typeof e.data === "string" ? e.data : null,
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

  return {
    describeError,
    analyzeModule,
    // Called before every request (and before module import, with the import-phase values).
    nextTimerDelay,
    runDueTimers,
    begin(now, s0, s1, s2, s3, isLive) {
      scheduled.clear();
      frozenNow = now;
      live = !!isLive;
      a = s0; b = s1; c = s2; d = s3 | 1;
      for (let i = 0; i < 12; i++) random();
    },
  };
}
