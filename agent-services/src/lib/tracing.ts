/**
 * OpenTelemetry tracing: one NodeTracerProvider per process, spans around task create (gateway),
 * task run (worker) and every outgoing HTTP call (`tracedFetch`), W3C traceparent in and out, and
 * the active trace and span ids in every JSON log line (`traceMixin` for pino).
 *
 * Spans are always created, so trace ids reach the logs and travel with jobs; they are exported to
 * OTLP/HTTP only when OTEL_EXPORTER_OTLP_ENDPOINT is set. `register()` installs the
 * AsyncLocalStorage context manager and the W3C trace-context (+ baggage) propagator.
 */
import {
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from "@opentelemetry/api";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { BatchSpanProcessor, type ReadableSpan, type Span as SdkSpan, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_URL_FULL,
} from "@opentelemetry/semantic-conventions";

export { SpanKind } from "@opentelemetry/api";

/** Span attribute names of the task service. */
export const ATTR = {
  taskId: "dealscale.task.id",
  tenantId: "dealscale.tenant.id",
  agentId: "dealscale.agent.id",
  capability: "dealscale.capability",
  attempt: "dealscale.attempt",
} as const;

const TRACER_NAME = "dealscale-a2a";

/** Span processors can be added after the provider exists (an exporter per endpoint, tests). */
class SpanProcessors implements SpanProcessor {
  readonly list: SpanProcessor[] = [];
  onStart(span: SdkSpan, parent: Context): void {
    for (const p of this.list) p.onStart(span, parent);
  }
  onEnd(span: ReadableSpan): void {
    for (const p of this.list) p.onEnd(span);
  }
  async forceFlush(): Promise<void> {
    await Promise.all(this.list.map((p) => p.forceFlush()));
  }
  async shutdown(): Promise<void> {
    await Promise.all(this.list.map((p) => p.shutdown()));
  }
}

let state: { provider: NodeTracerProvider; processors: SpanProcessors; endpoints: Set<string> } | undefined;

export interface TracingOptions {
  serviceName: string;
  /** OTLP/HTTP base URL (OTEL_EXPORTER_OTLP_ENDPOINT); spans go to `<endpoint>/v1/traces`. */
  otlpEndpoint?: string;
}

/** Sets tracing up once per process; later calls only add an exporter for a new endpoint. */
export function initTracing(opts: TracingOptions): void {
  if (!state) {
    const processors = new SpanProcessors();
    const provider = new NodeTracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: opts.serviceName }),
      spanProcessors: [processors],
    });
    provider.register();
    state = { provider, processors, endpoints: new Set() };
  }
  if (opts.otlpEndpoint && !state.endpoints.has(opts.otlpEndpoint)) {
    state.endpoints.add(opts.otlpEndpoint);
    state.processors.list.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: otlpTracesUrl(opts.otlpEndpoint) })));
  }
}

/** The OTLP/HTTP traces URL for a base endpoint, as the OTEL_EXPORTER_OTLP_ENDPOINT convention has it. */
export function otlpTracesUrl(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, "")}/v1/traces`;
}

/** Adds a span processor (e.g. a SimpleSpanProcessor over an InMemorySpanExporter in tests). */
export function addSpanProcessor(processor: SpanProcessor, serviceName = TRACER_NAME): void {
  initTracing({ serviceName });
  state!.processors.list.push(processor);
}

/** Exports what is buffered (on shutdown); harmless when nothing is set up. */
export async function flushTracing(): Promise<void> {
  await state?.processors.forceFlush().catch(() => undefined);
}

export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/** pino `mixin`: the active span's ids on every log line written inside it. */
export function traceMixin(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (!span) return {};
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId };
}

/** The remote parent carried by incoming headers (W3C traceparent/tracestate); the root context if none. */
export function extractContext(carrier: Record<string, unknown> | undefined): Context {
  if (!carrier) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, carrier);
}

/** The active trace context as W3C headers (traceparent, tracestate), e.g. to put on a job; undefined if none. */
export function traceCarrier(): Record<string, string> | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ? carrier : undefined;
}

/**
 * Runs `fn` inside a new active span (child of `parent`, else of the active context) and ends it.
 * A thrown error marks the span as failed, except client errors (an error with a 4xx `status`),
 * which are the caller's fault, not the service's.
 */
export function withSpan<T>(
  name: string,
  opts: { kind?: SpanKind; attributes?: Attributes; parent?: Context },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer().startActiveSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, attributes: opts.attributes }, opts.parent ?? context.active(), async (span) => {
    try {
      return await fn(span);
    } catch (e) {
      const status = (e as { status?: unknown })?.status;
      if (typeof status === "number" && status >= 400 && status < 500) {
        span.setAttribute("dealscale.error.status", status);
      } else {
        recordFailure(span, e);
      }
      throw e;
    } finally {
      span.end();
    }
  });
}

/** Marks a span failed by an exception: the exception event, ERROR status and error.type. */
function recordFailure(span: Span, e: unknown): void {
  span.recordException(e as Error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error)?.message });
  span.setAttribute(ATTR_ERROR_TYPE, (e as Error)?.name ?? "Error");
}

/**
 * fetch with a CLIENT span and the trace context sent as W3C traceparent. For every outgoing HTTP
 * call of the service (webhooks, provider adapters, the SIEM sink). The recorded URL drops the
 * query string and credentials, which may carry API keys.
 */
export function tracedFetch(url: string | URL, init: RequestInit = {}, opts: { spanName?: string; attributes?: Attributes } = {}): Promise<Response> {
  const u = new URL(String(url));
  const method = (init.method ?? "GET").toUpperCase();
  const port = u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
  return tracer().startActiveSpan(
    opts.spanName ?? method,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        [ATTR_HTTP_REQUEST_METHOD]: method,
        [ATTR_URL_FULL]: `${u.protocol}//${u.host}${u.pathname}`,
        [ATTR_SERVER_ADDRESS]: u.hostname,
        [ATTR_SERVER_PORT]: port,
        ...opts.attributes,
      },
    },
    async (span) => {
      const headers = new Headers(init.headers);
      propagation.inject(context.active(), headers, { set: (h, k, v) => h.set(k, v) });
      try {
        const res = await fetch(u, { ...init, headers });
        span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.status);
        if (res.status >= 400) {
          span.setStatus({ code: SpanStatusCode.ERROR });
          span.setAttribute(ATTR_ERROR_TYPE, String(res.status));
        }
        return res;
      } catch (e) {
        recordFailure(span, e);
        throw e;
      } finally {
        span.end();
      }
    },
  );
}
