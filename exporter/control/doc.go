// Package control is both sides of corral's control protocol: the corral server
// signs commands with [Signer] and an agent checks them with [Verifier], so the
// two cannot drift apart.
//
// # Request
//
// The server sends
//
//	POST /control
//	Authorization: Bearer <token>
//	Content-Type: application/json
//
//	{"id": "cmd-42", "command": "pause", "args": {"reason": "maintenance"}}
//
// id is 1 to 128 characters of [A-Za-z0-9._:-] and names the command for
// idempotency and the audit trail; command is one of [Commands]; args is absent,
// null or a JSON object whose shape depends on the command. [ParseRequest] is
// strict: unknown or duplicate fields, trailing data and invalid UTF-8 are errors.
// The agent answers with a [Response]: {"id", "command", "ok", "result" | "error"}.
//
// # Token
//
// The token is a JWT signed with EdDSA (Ed25519); no other alg is accepted. Its
// header carries kid, the [KeyID] of the signing key, so an agent that trusts
// several keys (during a rotation) picks the right one. Its claims:
//
//	iss  "corral" unless configured otherwise
//	aud  the collector's name; exactly one audience
//	iat  issue time
//	exp  expiry; exp - iat is at most 60 s ([MaxTokenLifetime])
//	nbf  optional
//	jti  random id; an agent accepts each jti once
//	htm  HTTP method of the request ("POST")
//	htu  path of the request ("/control")
//	bsh  base64url (unpadded) SHA-256 of the exact body bytes ([BodyHash])
//
// The binding claims make a token good for one request only: it cannot be moved to
// another agent (aud), another endpoint (htm, htu) or another body (bsh), and it
// cannot be sent twice (jti), even within its short lifetime.
//
// # Verification
//
// [Verifier.Verify] returns an [*AuthError]. Its status is 401 when the caller is not
// proved to be the server: missing or malformed token, unknown key id, bad
// signature, wrong issuer, expired, not yet valid, lifetime over 60 s, a replayed
// jti, or a full replay cache. It is 403 when the token is genuine but was made for
// something else: another audience, method, path or body. A clock skew of
// [DefaultLeeway] is tolerated. A jti is remembered until its token expires (plus
// the leeway) and forgotten then; the cache is bounded and, when full of unexpired
// ids, rejects new tokens ("retry shortly") rather than forget one early.
//
// # Keys
//
// Public keys are written "ed25519:<base64 of the 32 key bytes>" ([FormatPublicKey])
// or as a PEM "PUBLIC KEY" block; private keys are PKCS#8 PEM
// ([MarshalPrivateKeyPEM]). Keys are rotated by trusting the new key next to the old
// one ([Verifier.SetKeys]), switching the server's signer, then removing the old key.
package control
