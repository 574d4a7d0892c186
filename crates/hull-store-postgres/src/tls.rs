//! TLS to PostgreSQL: managed servers (and any server across a network) require it.
//!
//! Every connection offers TLS (rustls on the `ring` provider, the same stack the rest of Hull
//! uses); `sslmode` in the URL decides as in libpq whether a server without TLS is accepted
//! (`prefer`, the default) or refused (`require`). Certificates are always verified, against
//! the Mozilla roots plus the certificates in `sslrootcert=PATH` when given (for a private CA,
//! such as a cloud provider's database CA or a self-signed test server).

use std::sync::Arc;

use hull_errors::{Error, Result};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Where and how to connect: the URL as tokio-postgres takes it (Hull's own parameters
/// removed) and the TLS connector.
#[derive(Clone)]
pub(crate) struct ConnectTarget {
    pub url: String,
    pub tls: MakeRustlsConnect,
}

fn invalid(why: String) -> Error {
    Error::bad_request("InvalidDatabaseUrl", why)
}

impl ConnectTarget {
    pub(crate) fn parse(url: &str) -> Result<ConnectTarget> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut root_certificate_file = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslrootcert", path)) => root_certificate_file = Some(path.to_owned()),
                _ => kept.push(pair),
            }
        }
        let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = root_certificate_file {
            let pem = std::fs::read(&path).map_err(|e| invalid(format!("could not read sslrootcert {path}: {e}")))?;
            let mut added = 0;
            for certificate in rustls_pemfile::certs(&mut pem.as_slice()) {
                let certificate = certificate.map_err(|e| invalid(format!("sslrootcert {path} is not PEM: {e}")))?;
                roots.add(certificate).map_err(|e| invalid(format!("sslrootcert {path}: {e}")))?;
                added += 1;
            }
            if added == 0 {
                return Err(invalid(format!("sslrootcert {path} holds no certificate")));
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::internal("TlsSetupFailed", format!("TLS setup failed: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(ConnectTarget { url, tls: MakeRustlsConnect::new(config) })
    }
}
