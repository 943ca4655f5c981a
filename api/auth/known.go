package auth

import (
	"sync"
	"time"

	"github.com/corral-dev/corral/store"
)

// While the store is unavailable (its database down, its disk full) no
// credential can be checked against it, yet what the API reads — collectors,
// statuses, targets — comes from memory. So that operators can still see their
// fleet during an outage, a read (GET, HEAD) whose credential authenticated
// against the store within the last knownFor is let through as that principal,
// with the roles it had then. Nothing else is: writes need the store anyway and
// answer 503, a credential never seen stays refused, and a token revoked or a
// session logged out through this server is forgotten at once. A credential
// revoked behind this server's back (another server on the same store, SQL)
// may read for at most knownFor after its last check.
const (
	knownFor = 5 * time.Minute
	maxKnown = 10000 // credentials remembered, each a few hundred bytes
)

// knownCredential is a credential that authenticated against the store.
type knownCredential struct {
	p       Principal
	sess    *store.Session // for a session cookie
	expires time.Time      // the credential's own expiry; zero for none
	checked time.Time
}

// known remembers credentials, by the SHA-256 of their secret.
type known struct {
	mu sync.Mutex
	m  map[string]knownCredential
}

func knownKey(via, sha string) string { return via + ":" + sha }

// remember keeps a credential that has just authenticated.
func (k *known) remember(key string, c knownCredential) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[string]knownCredential{}
	}
	if _, ok := k.m[key]; !ok && len(k.m) >= maxKnown {
		k.dropOne(c.checked)
	}
	k.m[key] = c
}

// dropOne makes room: an entry too old to be used, else any.
func (k *known) dropOne(now time.Time) {
	var some string
	for key, c := range k.m {
		if now.Sub(c.checked) >= knownFor {
			delete(k.m, key)
			return
		}
		some = key
	}
	delete(k.m, some)
}

// recall returns the credential when it authenticated within knownFor and has
// not expired since.
func (k *known) recall(key string, now time.Time) (knownCredential, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := k.m[key]
	if !ok || now.Sub(c.checked) >= knownFor || (!c.expires.IsZero() && !now.Before(c.expires)) {
		return knownCredential{}, false
	}
	return c, true
}

// drop forgets one credential: the store refused it.
func (k *known) drop(key string) {
	k.mu.Lock()
	delete(k.m, key)
	k.mu.Unlock()
}

// forget drops the credentials of a session (via ViaSession) or token (ViaToken)
// by its ID, once it stopped authenticating.
func (k *known) forget(via, id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, c := range k.m {
		if c.p.Via == via && (c.p.SessionID == id && via == ViaSession || c.p.TokenID == id && via == ViaToken) {
			delete(k.m, key)
		}
	}
}
