/**
 * Preloaded (`--import`) into a ccm process a benchmark profiles with
 * `--cpu-prof`. Node writes the profile only on a normal exit, and Nest ends
 * its SIGTERM shutdown by sending itself the signal again, which would kill
 * the process before the profile is written: while this listener exists, that
 * second signal comes here instead and exits normally.
 */
let signals = 0;
process.on('SIGTERM', () => {
  // The first one is Nest's to handle (an orderly close); the second is Nest re-raising it when done.
  signals += 1;
  if (signals > 1 || process.listenerCount('SIGTERM') === 1) process.exit(0);
});

export {};
