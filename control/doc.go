// Package control is corral's control plane: it turns what operators ask for
// into signed commands to agents, delivers them and follows each one until a
// scrape shows its effect (the Dispatcher); it keeps desired state and
// reconciles agents to it; it registers, unregisters (archives) and
// re-registers collectors (the Lifecycle); and it runs bulk operations, now or
// scheduled (Bulk). [New] builds all three, joined, from one Options; the API
// (package api) only translates HTTP to their calls.
//
// # A command's life
//
// [Dispatcher.Submit] writes the command, its audit row and any change of desired
// state in one transaction, then queues it. Commands to one collector are
// delivered one at a time, oldest first, so a stop followed by a resume arrives
// in that order even after an outage. A delivery attempt is recorded as sent
// before the request leaves, then the signed POST /control (package
// exporter/control, the agent's side) gets one of three outcomes:
//
//   - the agent carried it out: acknowledged (test_connection and
//     rotate_credentials, whose effect no scrape shows, are confirmed at once);
//   - the agent refused it (HTTP 200 with ok false, 400, 403, 409): failed, with
//     the agent's reason;
//   - no answer, 5xx, or 401 (the agent does not trust the key yet): retried
//     with exponential backoff until the command expires (default 5 minutes).
//
// An acknowledged command is confirmed by the first successful scrape that
// started after the acknowledgement and shows the effect: state paused for
// pause, not paused for resume, a later process_start_time_seconds for restart,
// a later last collection for collect, the acknowledged config generation for
// update_config, and for backfill corral_collector_backfill_running 0 at
// progress 1 (0 below 1 fails it; progress in between is recorded and published).
// One that no scrape confirms before it expires is expired.
//
// A server stopped while a command is in flight loses nothing: on start every
// open command is loaded, one recorded as sent is sent again under the same id,
// and the agent answers a known id from memory instead of running it twice.
//
// # Reconciliation
//
// Desired state (store.DesiredState) is compared with every good scrape. An agent
// seen running while its desired state is paused is paused again (and one seen
// paused while desired running is resumed); an agent whose config generation went
// below the confirmed one (it lost its state file) gets the desired config again.
// Each such act is a command by the actor "reconciler", in the audit trail, and a
// history row of kind reconcile.
//
// # Keys
//
// The server signs with one active Ed25519 key kept in the store (made on first
// start). A rotation makes a next key, sends it to every agent with
// rotate_credentials signed by the active key, and switches once every agent
// acknowledged (or when forced, leaving the agents that missed it listed); the
// old key is then withdrawn from the agents with a second rotate_credentials.
//
// # Lifecycle
//
// A registered collector becomes a target of every scrape config with
// registry: true, with a scrape token of its own. An unregistered collector is
// not scraped: a registry one is archived in the registry (its token with it),
// a file_sd or static one is dropped from the target set by [Lifecycle.Filter]
// for as long as it stays unregistered, even while its file still lists it.
// Its history, completeness buckets, logs and audit rows are either kept for a
// retention period (then purged by [Lifecycle.RunPurge]) or deleted at once.
package control
