/** The coalescer: one batch in flight, the next takes what arrived meanwhile, errors go to their batch. */
import { Coalescer } from "../src/lib/coalescer";

test("an item alone runs at once; items arriving during a run go together in the next, results in order", async () => {
  const batches: number[][] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const c = new Coalescer<number, number>(async (items) => {
    batches.push(items);
    if (batches.length === 1) await gate;
    return items.map((i) => i * 10);
  });
  const first = c.run(1);
  const rest = [c.run(2), c.run(3), c.run(4)];
  release();
  expect(await first).toBe(10);
  expect(await Promise.all(rest)).toEqual([20, 30, 40]);
  expect(batches).toEqual([[1], [2, 3, 4]]);
});

test("a batch that throws rejects its own items only; the next batch still runs", async () => {
  const c = new Coalescer<string, string>(async (items) => {
    if (items.includes("bad")) throw new Error("no");
    return items;
  }, { max: 2 });
  const results = await Promise.allSettled([c.run("bad"), c.run("a"), c.run("b")]);
  // "bad" ran alone (it arrived first); "a" and "b" went together after it.
  expect(results.map((r) => r.status)).toEqual(["rejected", "fulfilled", "fulfilled"]);
});

test("with eachAloneOnError, a batch that throws runs each of its items again alone: only the culprit fails", async () => {
  const batches: string[][] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const c = new Coalescer<string, string>(async (items) => {
    batches.push(items);
    if (batches.length === 1) await gate;
    if (items.includes("bad")) throw new Error("no");
    return items.map((i) => i.toUpperCase());
  }, { eachAloneOnError: true });
  const first = c.run("first");
  const rest = [c.run("a"), c.run("bad"), c.run("b")];
  release();
  expect(await first).toBe("FIRST");
  const results = await Promise.allSettled(rest);
  expect(results).toEqual([
    { status: "fulfilled", value: "A" },
    { status: "rejected", reason: new Error("no") },
    { status: "fulfilled", value: "B" },
  ]);
  expect(batches).toEqual([["first"], ["a", "bad", "b"], ["a"], ["bad"], ["b"]]);
});

test("a batch holds at most `max` items", async () => {
  const sizes: number[] = [];
  const c = new Coalescer<number, number>(async (items) => (sizes.push(items.length), items), { max: 2 });
  await Promise.all([1, 2, 3, 4, 5].map((i) => c.run(i)));
  expect(sizes).toEqual([1, 2, 2]);
});
