// Auth providers, read by the backend at push (JsRuntime::evaluate_auth_config). The OIDC
// provider's domain comes from a deployment environment variable.
export default {
  providers: [
    { domain: process.env.AUTH_ISSUER_URL, applicationID: "convex" },
    {
      type: "customJwt",
      issuer: "https://issuer.example.com",
      jwks: "https://issuer.example.com/.well-known/jwks.json",
      algorithm: "RS256",
      applicationID: "hull",
    },
  ],
};
