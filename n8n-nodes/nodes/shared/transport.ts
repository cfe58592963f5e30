/**
 * Requests to the DealScale A2A gateway, shared by the nodes: the @dealscale/a2a-client package
 * (the one client the a2a-task runner uses too) over a transport that sends every call through
 * n8n's `httpRequestWithAuthentication` with the `dealScaleA2AApi` credential (which adds the
 * bearer token, minting it first when the credential holds a signing secret); every gateway refusal
 * becomes a NodeApiError whose message says what to do about it.
 */
import type {
	IDataObject,
	IExecuteFunctions,
	IHookFunctions,
	IHttpRequestMethods,
	IHttpRequestOptions,
	ILoadOptionsFunctions,
	INode,
	IWebhookFunctions,
	JsonObject,
} from 'n8n-workflow';
import { NodeApiError } from 'n8n-workflow';
import { A2AClient, A2AError, ConnectionError, type HttpRequest, type HttpResponse } from '@dealscale/a2a-client';

import { mintFromCredential } from '../../credentials/DealScaleA2AApi.credentials';

/** The credential type every node of this package authenticates with. */
export const CREDENTIAL_TYPE = 'dealScaleA2AApi';

/** Any node context that can make authenticated requests. */
export type GatewayContext =
	| IExecuteFunctions
	| ILoadOptionsFunctions
	| IHookFunctions
	| IWebhookFunctions;

export interface GatewayRequestOptions {
	/** The item the request is made for; carried into the error for n8n's error view. */
	itemIndex?: number;
	/** Extra request headers. */
	headers?: IDataObject;
	/**
	 * Made even though the execution was stopped. n8n aborts every authenticated request of a
	 * stopped execution, so this one carries the credential's bearer itself (a fresh token in
	 * signing-secret mode) through the plain request helper, with its own time limit. Only for
	 * cleaning up after a stop: cancelling the tasks the execution was waiting for.
	 */
	afterStop?: boolean;
}

/** How long a request made after a stop may take; nothing else bounds it. */
const AFTER_STOP_TIMEOUT_MS = 10_000;

/** The Authorization header the credential's `authenticate` would add, for requests made after a stop. */
async function bearerHeader(this: GatewayContext): Promise<string> {
	const credentials = await this.getCredentials(CREDENTIAL_TYPE);
	const token = credentials.authMode === 'signingSecret' ? mintFromCredential(credentials) : String(credentials.token ?? '');
	return `Bearer ${token}`;
}

/** The gateway's base URL from the credential, without a trailing slash. */
export async function gatewayBaseUrl(this: GatewayContext): Promise<string> {
	const credentials = await this.getCredentials(CREDENTIAL_TYPE);
	const baseUrl = String(credentials.baseUrl ?? '').trim();
	return baseUrl.replace(/\/+$/, '');
}

/**
 * The client's transport through n8n's request helpers. A refusal comes back to the client as an
 * answer (which it types); only a request without an answer throws. The helpers are left to throw
 * on a refusal first: on a 401 that is what makes n8n refresh an expirable credential and retry.
 */
function n8nTransport(context: GatewayContext, baseURL: string, options: GatewayRequestOptions): (req: HttpRequest) => Promise<HttpResponse> {
	return async (req) => {
		const request: IHttpRequestOptions = {
			method: req.method as IHttpRequestMethods,
			baseURL,
			url: req.path,
			json: true,
			headers: { Accept: 'application/json', ...(options.headers ?? {}), ...(req.headers ?? {}) },
			returnFullResponse: true,
		};
		if (req.body !== undefined) request.body = req.body as IDataObject;
		if (req.query !== undefined) request.qs = dropEmpty(req.query as IDataObject);
		let response: { statusCode: number; headers: Record<string, string>; body: unknown };
		try {
			if (options.afterStop) {
				request.headers = { ...request.headers, Authorization: await bearerHeader.call(context) };
				request.timeout = AFTER_STOP_TIMEOUT_MS;
				response = await context.helpers.httpRequest(request);
			} else {
				response = await context.helpers.httpRequestWithAuthentication.call(context, CREDENTIAL_TYPE, request);
			}
		} catch (error) {
			const refused = responseOf(error);
			// No answer at all: the client's ConnectionError, which withGateway turns into the node's error.
			if (!refused?.status) throw noAnswer(req, error);
			return { status: refused.status, headers: (refused.headers ?? {}) as Record<string, string>, body: jsonOrText(refused.data) };
		}
		return { status: response.statusCode, headers: response.headers ?? {}, body: response.body };
	};
}

function noAnswer(req: HttpRequest, error: unknown): ConnectionError {
	return new ConnectionError(`${req.method} ${req.path}: ${(error as Error)?.message ?? String(error)}`, { method: req.method, path: req.path, cause: error });
}

function jsonOrText(data: unknown): unknown {
	if (typeof data !== 'string') return data;
	try {
		return JSON.parse(data);
	} catch {
		return data;
	}
}

/**
 * The gateway client for this node context. 429s are not waited for here: they surface as errors
 * naming the wait, and n8n's "Retry On Fail" owns the retrying.
 */
export async function gatewayClient(this: GatewayContext, options: GatewayRequestOptions = {}): Promise<{ client: A2AClient; baseUrl: string }> {
	const baseUrl = await gatewayBaseUrl.call(this);
	return { client: new A2AClient({ transport: n8nTransport(this, baseUrl, options), rateLimitRetries: 0 }), baseUrl };
}

/**
 * Runs `call` with the gateway client; a refusal or an unreachable gateway throws the NodeApiError
 * made by {@link gatewayError}.
 *
 * Call it with the node's context: `await withGateway(this, (client) => client.listAgents())`.
 */
export async function withGateway<T>(
	context: GatewayContext,
	call: (client: A2AClient) => Promise<T>,
	options: GatewayRequestOptions = {},
	what: { method?: string; path?: string } = {},
): Promise<T> {
	const { client, baseUrl } = await gatewayClient.call(context, options);
	try {
		return await call(client);
	} catch (error) {
		const a2a = error instanceof A2AError ? error : undefined;
		throw gatewayError(context.getNode(), error, {
			itemIndex: options.itemIndex,
			baseUrl,
			method: a2a?.method ?? what.method,
			path: a2a?.path ?? what.path,
		});
	}
}

/**
 * Calls the gateway: `method` and `path` (e.g. `/agents/data-engineer/tasks`), a JSON `body` and a
 * query string `qs`. Resolves to the parsed JSON answer. A refusal or an unreachable gateway throws
 * the NodeApiError made by {@link gatewayError}. For routes the client has no method for.
 *
 * Call it with the node's context: `await gatewayRequest.call(this, 'GET', '/webhooks')`.
 */
export async function gatewayRequest<T = IDataObject>(
	this: GatewayContext,
	method: IHttpRequestMethods,
	path: string,
	body?: IDataObject,
	qs?: IDataObject,
	options: GatewayRequestOptions = {},
): Promise<T> {
	return await withGateway(this, (client) => client.request<T>(method, path, { body, query: qs as HttpRequest['query'] }), options, { method, path });
}

/** The gateway's error body: `{error: {code, message, details?}}`. */
export interface GatewayErrorBody {
	code?: string;
	message?: string;
	details?: IDataObject;
}

interface ResponseLike {
	status?: number;
	headers?: Record<string, unknown>;
	data?: unknown;
}

/** The HTTP response behind an error thrown by n8n's request helpers, if there was one. */
function responseOf(error: unknown): ResponseLike | undefined {
	let current: unknown = error;
	// n8n wraps the transport's error (which has `.response`) in a NodeApiError (`.cause`).
	for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
		const candidate = current as { response?: ResponseLike; cause?: unknown };
		if (candidate.response && typeof candidate.response === 'object') return candidate.response;
		current = candidate.cause;
	}
	return undefined;
}

function networkCodeOf(error: unknown): string | undefined {
	let current: unknown = error;
	for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
		const code = (current as { code?: unknown }).code;
		if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
		current = (current as { cause?: unknown }).cause;
	}
	return undefined;
}

function headerValue(headers: Record<string, unknown> | undefined, name: string): string | undefined {
	if (!headers) return undefined;
	const getter = (headers as { get?: (n: string) => unknown }).get;
	const viaGetter = typeof getter === 'function' ? getter.call(headers, name) : undefined;
	const value = viaGetter ?? headers[name] ?? headers[name.toLowerCase()];
	if (Array.isArray(value)) return value.length ? String(value[0]) : undefined;
	return value === undefined || value === null ? undefined : String(value);
}

function parseBody(data: unknown): GatewayErrorBody | undefined {
	let value = data;
	if (typeof value === 'string') {
		try {
			value = JSON.parse(value);
		} catch {
			return undefined;
		}
	}
	if (!value || typeof value !== 'object') return undefined;
	const inner = (value as { error?: unknown }).error;
	if (inner && typeof inner === 'object') return inner as GatewayErrorBody;
	return undefined;
}

/** The schema violations of a 400 as "path: message" lines. */
function schemaErrors(details: IDataObject | undefined): string[] {
	const errors = details?.errors;
	if (!Array.isArray(errors)) return [];
	return errors
		.filter((e): e is IDataObject => !!e && typeof e === 'object')
		.map((e) => {
			const path = typeof e.path === 'string' && e.path ? e.path : '/';
			return typeof e.message === 'string' ? `${path}: ${e.message}` : path;
		});
}

export interface GatewayErrorContext {
	itemIndex?: number;
	baseUrl?: string;
	method?: string;
	path?: string;
}

/**
 * Turns an error of a gateway request into a NodeApiError with a message a workflow author can act
 * on: 400 names the JSON paths of the schema violations, 402 the credits needed and available, 429
 * the seconds to wait (Retry-After), 401/403/404/409/413/503 what they mean here; an unreachable
 * gateway says so. `httpCode` is the HTTP status; `context.data` keeps the gateway's error body and
 * `context.retryAfterSeconds` the wait of a 429.
 */
export function gatewayError(node: INode, error: unknown, context: GatewayErrorContext = {}): NodeApiError {
	const a2a = error instanceof A2AError && error.status !== undefined ? error : undefined;
	const response = a2a ? undefined : responseOf(error);
	const status =
		a2a?.status ??
		response?.status ??
		(Number((error as { httpCode?: unknown })?.httpCode) || undefined);
	const body =
		parseBody(a2a?.body) ??
		parseBody(response?.data) ??
		parseBody((error as { context?: { data?: unknown } })?.context?.data);
	const gatewayMessage = body?.message ?? '';
	const details = body?.details;
	const where = context.method && context.path ? ` (${context.method} ${context.path})` : '';

	let message: string;
	let description: string | undefined = gatewayMessage || undefined;
	let retryAfterSeconds: number | undefined;

	switch (status) {
		case undefined: {
			const code = networkCodeOf(error);
			message = `Cannot reach the DealScale gateway${context.baseUrl ? ` at ${context.baseUrl}` : ''}`;
			description = `${code ? `${code}: ` : ''}${(error as Error)?.message ?? String(error)}. Check the credential's Gateway URL and that the gateway is running.`;
			break;
		}
		case 400: {
			const paths = schemaErrors(details);
			message = paths.length
				? `Invalid request: ${paths.join('; ')}`
				: `Invalid request: ${gatewayMessage || 'the gateway refused the request'}`;
			break;
		}
		case 401:
			message = `The gateway refused the credential: ${gatewayMessage || 'invalid or expired token'}`;
			description = 'Check the token, or the agent ID, tenant ID and signing secret, of the DealScale A2A API credential.';
			break;
		case 402: {
			const required = details?.requiredCredits;
			const available = details?.availableCredits;
			message =
				required !== undefined && available !== undefined
					? `Not enough credits: the task needs ${String(required)} credits, the tenant has ${String(available)}`
					: `Not enough credits: ${gatewayMessage || 'the tenant cannot pay for this task'}`;
			break;
		}
		case 403:
			message = `Forbidden: ${gatewayMessage || 'the token lacks a scope this call needs'}`;
			break;
		case 404:
			message = `Not found: ${gatewayMessage || 'unknown agent, capability or task'}`;
			break;
		case 409:
			message = `Conflict: ${gatewayMessage || 'the request conflicts with the task state'}`;
			break;
		case 413:
			message = `Request too large: ${gatewayMessage || 'the inputs exceed the gateway body limit'}`;
			break;
		case 429: {
			const header = a2a?.retryAfterSeconds ?? Number(headerValue(response?.headers, 'retry-after'));
			const fromBody = Number(details?.retryAfterSeconds);
			retryAfterSeconds = Number.isFinite(header) && header > 0 ? header : Number.isFinite(fromBody) && fromBody > 0 ? fromBody : undefined;
			message =
				retryAfterSeconds !== undefined
					? `Rate limited by the gateway: retry after ${retryAfterSeconds} s`
					: 'Rate limited by the gateway: retry later';
			description = gatewayMessage || 'The agent allows only so many requests per minute for a tenant; enable "Retry On Fail" with a wait, or slow the workflow down.';
			break;
		}
		case 503:
			message = `The gateway is unavailable: ${gatewayMessage || 'a backing service is down'}; retry shortly`;
			break;
		default:
			message = `The gateway answered ${status}${where}: ${gatewayMessage || 'request failed'}`;
	}

	const errorResponse: JsonObject = body
		? ({ error: body } as unknown as JsonObject)
		: { message: (error as Error)?.message ?? String(error) };
	const apiError = new NodeApiError(node, errorResponse, {
		message,
		description,
		httpCode: status !== undefined ? String(status) : undefined,
		itemIndex: context.itemIndex,
	});
	if (body) apiError.context.data = body as unknown as IDataObject;
	if (retryAfterSeconds !== undefined) apiError.context.retryAfterSeconds = retryAfterSeconds;
	return apiError;
}

/** Query parameters without empty values, so an unset filter is not sent as `status=`. */
function dropEmpty(qs: IDataObject): IDataObject {
	const out: IDataObject = {};
	for (const [key, value] of Object.entries(qs)) {
		if (value === undefined || value === null || value === '') continue;
		out[key] = value;
	}
	return out;
}
