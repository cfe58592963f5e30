/**
 * Task events over Redis pub/sub, so any gateway replica can stream any task and any worker hears
 * a cancel. Durable copies live in task_events; this is only the live wire.
 */
import Redis from "ioredis";
import type { TaskEvent } from "../protocol/task";
import { withTimeout } from "../lib/with-timeout";

const TASK_CHANNEL = "dealscale:task:";
const CANCEL_CHANNEL = "dealscale:cancel";
/** A finish's message past this size goes without its final state (large outputs): listeners read the task instead. */
const MAX_FINAL_BYTES = 256 * 1024;

export type Unsubscribe = () => void;

export class RedisEventBus {
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly listeners = new Map<string, Set<(e: TaskEvent) => void>>();
  private readonly cancelListeners = new Set<(taskId: string, reason: string) => void>();
  private cancelSubscribed = false;

  constructor(redisUrl: string) {
    // Publishing fails fast when Redis is down; the durable event row is already committed. The
    // publishes of one event-loop turn go out in one write (auto-pipelining).
    this.pub = new Redis(redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false, enableAutoPipelining: true });
    this.sub = new Redis(redisUrl, { maxRetriesPerRequest: null });
    this.pub.on("error", () => undefined);
    this.sub.on("error", () => undefined);
    this.sub.on("message", (channel: string, message: string) => this.dispatch(channel, message));
  }

  async publish(event: TaskEvent): Promise<void> {
    let message = JSON.stringify(event);
    if (event.final && message.length > MAX_FINAL_BYTES) message = JSON.stringify({ ...event, final: undefined });
    await this.pub.publish(TASK_CHANNEL + event.taskId, message);
  }

  async publishCancel(taskId: string, reason: string): Promise<void> {
    await this.pub.publish(CANCEL_CHANNEL, JSON.stringify({ taskId, reason }));
  }

  /** Resolves once Redis has confirmed the subscription, so no event published after it is missed. */
  async subscribe(taskId: string, listener: (e: TaskEvent) => void): Promise<Unsubscribe> {
    const channel = TASK_CHANNEL + taskId;
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(listener);
    try {
      // The subscriber keeps retrying while Redis is down; the caller answers 503 instead of hanging.
      await withTimeout(this.sub.subscribe(channel), 2000, "subscribe");
    } catch (e) {
      this.remove(channel, listener);
      throw e;
    }
    return () => this.remove(channel, listener);
  }

  async onCancel(listener: (taskId: string, reason: string) => void): Promise<void> {
    this.cancelListeners.add(listener);
    if (!this.cancelSubscribed) {
      this.cancelSubscribed = true;
      await this.sub.subscribe(CANCEL_CHANNEL);
    }
  }

  async ping(): Promise<boolean> {
    return (await this.pub.ping()) === "PONG";
  }

  async close(): Promise<void> {
    this.pub.disconnect();
    this.sub.disconnect();
  }

  private remove(channel: string, listener: (e: TaskEvent) => void): void {
    const set = this.listeners.get(channel);
    if (!set) return;
    set.delete(listener);
    if (set.size === 0) {
      this.listeners.delete(channel);
      this.sub.unsubscribe(channel).catch(() => undefined);
    }
  }

  private dispatch(channel: string, message: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    if (channel === CANCEL_CHANNEL) {
      const { taskId, reason } = parsed as { taskId: string; reason: string };
      for (const l of this.cancelListeners) l(taskId, reason);
      return;
    }
    for (const l of this.listeners.get(channel) ?? []) l(parsed as TaskEvent);
  }
}
