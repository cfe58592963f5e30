/** The capability handlers of this agent, by capability name; the runtime fails the others as not implemented. */
import type { CapabilityHandler } from "../../protocol/agent-contract";
import { scoreLookalike } from "./score-lookalike";
import { segmentLeads } from "./segment-leads";
import { scoreLeads } from "./score-leads";

export const handlers: Record<string, CapabilityHandler> = { scoreLookalike, segmentLeads, scoreLeads };
