/**
 * Runs items in batches with at most one batch in flight: an item that arrives while a batch runs
 * waits for the next, which takes everything that arrived (up to `max`). Under load batches grow by
 * themselves; alone, an item runs at once. `runMany` returns one result per item, in order. If it
 * throws, every item of that batch gets the error; or, with `eachAloneOnError`, each item of the
 * batch runs again alone, so one bad item (or a deadlock) fails only itself.
 */
export interface CoalescerOptions {
  max?: number;
  eachAloneOnError?: boolean;
}

type Waiting<I, R> = { item: I; resolve(r: R): void; reject(e: unknown): void };

export class Coalescer<I, R> {
  private waiting: Waiting<I, R>[] = [];
  private running = false;
  private readonly max: number;

  constructor(
    private readonly runMany: (items: I[]) => Promise<R[]>,
    private readonly options: CoalescerOptions = {},
  ) {
    this.max = options.max ?? 500;
  }

  run(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.waiting.length) await this.runBatch(this.waiting.splice(0, this.max));
    } finally {
      this.running = false;
    }
  }

  private async runBatch(batch: Waiting<I, R>[]): Promise<void> {
    try {
      const results = await this.runMany(batch.map((w) => w.item));
      batch.forEach((w, i) => w.resolve(results[i]));
      return;
    } catch (e) {
      if (!this.options.eachAloneOnError || batch.length === 1) {
        for (const w of batch) w.reject(e);
        return;
      }
    }
    for (const w of batch) {
      try {
        const [result] = await this.runMany([w.item]);
        w.resolve(result);
      } catch (e) {
        w.reject(e);
      }
    }
  }
}
