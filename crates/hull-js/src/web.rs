//! Native halves of Web APIs the prelude exposes (URL parsing through the WHATWG-conformant
//! `url` crate).

use serde_json::json;
use url::{Url, quirks};

fn components(url: &Url) -> String {
    json!({
        "href": quirks::href(url),
        "origin": quirks::origin(url),
        "protocol": quirks::protocol(url),
        "username": quirks::username(url),
        "password": quirks::password(url),
        "host": quirks::host(url),
        "hostname": quirks::hostname(url),
        "port": quirks::port(url),
        "pathname": quirks::pathname(url),
        "search": quirks::search(url),
        "hash": quirks::hash(url),
    })
    .to_string()
}

/// `new URL(input, base)`: the URL's components as JSON, or `None` when it does not parse.
pub fn url_parse(input: &str, base: Option<&str>) -> Option<String> {
    let url = match base {
        Some(base) => Url::parse(base).ok()?.join(input).ok()?,
        None => Url::parse(input).ok()?,
    };
    Some(components(&url))
}

/// A URL setter (`url.pathname = ...`): the new components as JSON. Invalid values are
/// ignored, as the URL standard's setters do (except `href`, which returns `None`).
pub fn url_set(href: &str, component: &str, value: &str) -> Option<String> {
    let mut url = Url::parse(href).ok()?;
    match component {
        "href" => {
            url = Url::parse(value).ok()?;
        }
        "protocol" => {
            let _ = quirks::set_protocol(&mut url, value);
        }
        "username" => {
            let _ = quirks::set_username(&mut url, value);
        }
        "password" => {
            let _ = quirks::set_password(&mut url, value);
        }
        "host" => {
            let _ = quirks::set_host(&mut url, value);
        }
        "hostname" => {
            let _ = quirks::set_hostname(&mut url, value);
        }
        "port" => {
            let _ = quirks::set_port(&mut url, value);
        }
        "pathname" => quirks::set_pathname(&mut url, value),
        "search" => quirks::set_search(&mut url, value),
        "hash" => quirks::set_hash(&mut url, value),
        _ => return None,
    }
    Some(components(&url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_sets() {
        let parsed: serde_json::Value = serde_json::from_str(
            &url_parse("../b?x=1#h", Some("https://u:p@example.com:8080/a/c")).unwrap(),
        )
        .unwrap();
        assert_eq!(parsed["href"], "https://u:p@example.com:8080/b?x=1#h");
        assert_eq!(parsed["origin"], "https://example.com:8080");
        assert_eq!(parsed["port"], "8080");
        assert!(url_parse("nope", None).is_none());
        let set: serde_json::Value =
            serde_json::from_str(&url_set("https://example.com/a", "pathname", "/x y").unwrap())
                .unwrap();
        assert_eq!(set["href"], "https://example.com/x%20y");
    }
}

/// `crypto.subtle.digest`: the digest of `data` with the WebCrypto algorithm `algorithm`.
pub fn digest(algorithm: &str, data: &[u8]) -> Option<Vec<u8>> {
    use sha2::Digest as _;
    Some(match algorithm.to_ascii_uppercase().as_str() {
        "SHA-1" => sha1::Sha1::digest(data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data).to_vec(),
        "SHA-384" => sha2::Sha384::digest(data).to_vec(),
        "SHA-512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    })
}

/// HMAC of `data` under `key` with the hash `algorithm` (`crypto.subtle.sign("HMAC", ...)`).
pub fn hmac(algorithm: &str, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    use hmac::{Hmac, Mac};
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
            .expect("HMAC takes keys of any length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
    Some(match algorithm.to_ascii_uppercase().as_str() {
        "SHA-1" => run::<Hmac<sha1::Sha1>>(key, data),
        "SHA-256" => run::<Hmac<sha2::Sha256>>(key, data),
        "SHA-384" => run::<Hmac<sha2::Sha384>>(key, data),
        "SHA-512" => run::<Hmac<sha2::Sha512>>(key, data),
        _ => return None,
    })
}

#[cfg(test)]
mod crypto_tests {
    use super::*;

    #[test]
    fn digests_and_hmacs() {
        let hex = |b: Vec<u8>| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(digest("SHA-256", b"abc").unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(digest("sha-1", b"abc").unwrap()),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert!(digest("MD5", b"abc").is_none());
        // RFC 4231 test case 2
        assert_eq!(
            hex(hmac("SHA-256", b"Jefe", b"what do ya want for nothing?").unwrap()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
