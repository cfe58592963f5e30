/**
 * Runs items in batches with at most one batch in flight: an item that arrives while a batch runs
 * waits for the next, which takes everything that arrived (up to `max`). Under load batches grow by
 * themselves; alone, an item runs at once. `runMany` returns one result per item, in order; if it
 * throws, every item of that batch gets the error.
 */
export class Coalescer<I, R> {
  private waiting: { item: I; resolve(r: R): void; reject(e: unknown): void }[] = [];
  private running = false;

  constructor(
    private readonly runMany: (items: I[]) => Promise<R[]>,
    private readonly max = 500,
  ) {}

  run(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.waiting.length) {
        const batch = this.waiting.splice(0, this.max);
        try {
          const results = await this.runMany(batch.map((w) => w.item));
          batch.forEach((w, i) => w.resolve(results[i]));
        } catch (e) {
          for (const w of batch) w.reject(e);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
