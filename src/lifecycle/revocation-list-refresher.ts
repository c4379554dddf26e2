/**
 * The life cycle's view of CRL publication: after a transition that changes
 * what a CA's CRL must say, ask for a new one to be built in the background,
 * so the next fetch finds it ready instead of building it on the request path.
 */
export abstract class RevocationListRefresher {
  /** Coalesced: a burst of transitions under one CA leads to one or two builds. Never throws. */
  abstract refreshSoon(authorityId: string, shard: number): void;
}
