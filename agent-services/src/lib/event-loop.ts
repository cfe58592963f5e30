/**
 * Lets pending I/O run between chunks of CPU work: a cancel arriving over Redis, and the queue
 * worker renewing its job lock (a worker that holds the loop for seconds loses its job).
 */
export const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));
