/** The capability handlers of this agent, by capability name; the runtime fails the others as not implemented. */
import type { CapabilityHandler } from "../../queue/handler";

export const handlers: Record<string, CapabilityHandler> = {};
