/**
 * Long CPU work written as a generator that yields between steps, run either straight through or
 * awaiting `pause()` at each step (a queue worker must keep renewing its job's lock, and a cancel
 * must get through, while a million leads are compared or clustered).
 */
export function runSteps<T>(steps: Generator<void, T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

export async function runStepsPausing<T>(steps: Generator<void, T>, pause: () => Promise<void>): Promise<T> {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await pause();
  }
}
