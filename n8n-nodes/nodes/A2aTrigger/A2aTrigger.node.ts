import type {
	IDataObject,
	IHookFunctions,
	ILoadOptionsFunctions,
	INodePropertyOptions,
	INodeType,
	INodeTypeDescription,
	IWebhookFunctions,
	IWebhookResponseData,
	JsonObject,
} from 'n8n-workflow';
import { jsonParse, NodeApiError, NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';

import { DELIVERY_HEADER, SIGNATURE_HEADER, verifyDealScaleSignature } from '../shared/signature';
import { agentOptions, capabilityOptions, currentParameter } from '../shared/registry';
import { CREDENTIAL_TYPE, gatewayRequest, type GatewayContext } from '../shared/transport';

/** The task outcomes the gateway delivers to subscriptions. */
const TRIGGER_EVENTS = ['completed', 'failed', 'cancelled', 'timeout'] as const;
type TriggerEvent = (typeof TRIGGER_EVENTS)[number];

/** A subscription as the gateway returns it (`GET /webhooks/:id`, `POST /webhooks`). */
interface Subscription {
	id: string;
	url: string;
	events: string[];
	agentId: string | null;
	capability: string | null;
	active: boolean;
	createdAt?: string;
	secret?: string;
}

/** What this node keeps in the workflow's node static data between activation and deliveries. */
interface TriggerStaticData extends IDataObject {
	webhookId?: string;
	secret?: string;
}

/** The subscription the node's current parameters call for. */
interface WantedSubscription {
	url: string;
	events: TriggerEvent[];
	agentId: string;
	capability: string | null;
}

function isNotFound(error: unknown): boolean {
	return (error as { httpCode?: unknown })?.httpCode === '404';
}

/**
 * GET or DELETE of one subscription. The gateway's 404 (an unknown id, or another tenant's) comes
 * back as `gone`; every other refusal is thrown.
 */
async function subscriptionRequest(
	this: GatewayContext,
	method: 'GET' | 'DELETE',
	webhookId: string,
): Promise<{ gone: true } | { gone: false; body: IDataObject | undefined }> {
	try {
		const body = (await gatewayRequest.call(this, method, `/webhooks/${encodeURIComponent(webhookId)}`)) as
			| IDataObject
			| undefined;
		return { gone: false, body };
	} catch (error) {
		if (isNotFound(error)) return { gone: true };
		throw new NodeApiError(this.getNode(), error as JsonObject);
	}
}

function staticDataOf(context: IHookFunctions | IWebhookFunctions): TriggerStaticData {
	return context.getWorkflowStaticData('node') as TriggerStaticData;
}

function forgetSubscription(data: TriggerStaticData): void {
	delete data.webhookId;
	delete data.secret;
}

function wantedSubscription(this: IHookFunctions): WantedSubscription {
	const url = this.getNodeWebhookUrl('default');
	if (!url) {
		throw new NodeOperationError(this.getNode(), 'n8n did not provide a webhook URL for this trigger');
	}
	const agentId = String(this.getNodeParameter('agentId', '') ?? '').trim();
	if (!agentId) {
		throw new NodeOperationError(this.getNode(), 'Choose the agent whose tasks should start the workflow');
	}
	const capability = String(this.getNodeParameter('capability', '') ?? '').trim();
	const chosen = this.getNodeParameter('events', []) as string[];
	const events = TRIGGER_EVENTS.filter((e) => chosen.includes(e));
	if (events.length === 0) {
		throw new NodeOperationError(this.getNode(), 'Choose at least one event to listen for');
	}
	return { url, events, agentId, capability: capability || null };
}

/** Why a registered subscription no longer serves the node as configured, or undefined when it does. */
function mismatch(found: Subscription, wanted: WantedSubscription): string | undefined {
	if (found.active !== true) return 'it was deactivated (the receiver answered 410 Gone)';
	if (found.url !== wanted.url) return `its URL is ${found.url}, not ${wanted.url}`;
	if ((found.agentId ?? null) !== wanted.agentId) return `it is for agent ${String(found.agentId)}`;
	if ((found.capability ?? null) !== wanted.capability) return `it is for capability ${String(found.capability)}`;
	const events = [...new Set(found.events ?? [])].sort().join(',');
	if (events !== [...wanted.events].sort().join(',')) return `it listens to ${events}`;
	return undefined;
}

export class A2aTrigger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'A2A Trigger',
		name: 'a2aTrigger',
		icon: { light: 'file:../A2aAgent/dealscale.svg', dark: 'file:../A2aAgent/dealscale.dark.svg' },
		group: ['trigger'],
		version: 1,
		subtitle: '={{$parameter["agentId"] + ($parameter["capability"] ? "." + $parameter["capability"] : "") + ": " + $parameter["events"].join(", ")}}',
		description: 'Starts the workflow when tasks of a DealScale agent complete, fail, are cancelled or time out',
		defaults: {
			name: 'A2A Trigger',
		},
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			{
				name: CREDENTIAL_TYPE,
				required: true,
			},
		],
		webhooks: [
			{
				name: 'default',
				httpMethod: 'POST',
				responseMode: 'onReceived',
				path: 'webhook',
			},
		],
		properties: [
			{
				displayName:
					'The gateway delivers to public addresses only: for an n8n on localhost or a private network, the gateway needs WEBHOOK_ALLOW_PRIVATE=true (development) or the n8n host in WEBHOOK_ALLOW_HOSTS',
				name: 'urlPolicyNotice',
				type: 'notice',
				default: '',
			},
			{
				displayName: 'Agent Name or ID',
				name: 'agentId',
				type: 'options',
				typeOptions: {
					loadOptionsMethod: 'getAgents',
				},
				required: true,
				default: '',
				description:
					'The agent whose tasks start the workflow. Choose from the list, or specify an ID using an <a href="https://docs.n8n.io/code/expressions/">expression</a>.',
			},
			{
				displayName: 'Capability Name or ID',
				name: 'capability',
				type: 'options',
				typeOptions: {
					loadOptionsMethod: 'getCapabilities',
					loadOptionsDependsOn: ['agentId'],
				},
				default: '',
				description:
					'Only tasks of this capability; "Any Capability" for all of the agent\'s tasks. Choose from the list, or specify an ID using an <a href="https://docs.n8n.io/code/expressions/">expression</a>.',
			},
			{
				displayName: 'Events',
				name: 'events',
				type: 'multiOptions',
				options: [
					{ name: 'Cancelled', value: 'cancelled', description: 'The task was cancelled' },
					{ name: 'Completed', value: 'completed', description: 'The task finished with outputs' },
					{ name: 'Failed', value: 'failed', description: 'The task failed' },
					{ name: 'Timeout', value: 'timeout', description: 'The task exceeded its time limit' },
				],
				required: true,
				default: ['completed', 'failed'],
				description: 'The task outcomes that start the workflow',
			},
		],
	};

	methods = {
		loadOptions: {
			async getAgents(this: ILoadOptionsFunctions): Promise<INodePropertyOptions[]> {
				return await agentOptions.call(this);
			},

			async getCapabilities(this: ILoadOptionsFunctions): Promise<INodePropertyOptions[]> {
				const any: INodePropertyOptions = { name: 'Any Capability', value: '', description: 'Every task of the agent' };
				const agentId = currentParameter(this, 'agentId');
				return agentId ? [any, ...(await capabilityOptions.call(this, agentId))] : [any];
			},
		},
	};

	webhookMethods = {
		default: {
			async checkExists(this: IHookFunctions): Promise<boolean> {
				const data = staticDataOf(this);
				if (data.webhookId === undefined) return false;
				const webhookId = data.webhookId;
				if (!data.secret) {
					// Without its secret no delivery of that subscription could be verified.
					this.logger.warn(`A2A Trigger "${this.getNode().name}" has no secret for subscription ${webhookId}; registering a new one`);
					await subscriptionRequest.call(this, 'DELETE', webhookId);
					forgetSubscription(data);
					return false;
				}

				const found = await subscriptionRequest.call(this, 'GET', webhookId);
				if (found.gone) {
					this.logger.info(`A2A Trigger "${this.getNode().name}": subscription ${webhookId} no longer exists on the gateway; registering a new one`);
					forgetSubscription(data);
					return false;
				}

				const reason = mismatch(found.body as unknown as Subscription, wantedSubscription.call(this));
				if (reason !== undefined) {
					this.logger.info(`A2A Trigger "${this.getNode().name}": replacing subscription ${webhookId}, ${reason}`);
					await subscriptionRequest.call(this, 'DELETE', webhookId);
					forgetSubscription(data);
					return false;
				}
				return true;
			},

			async create(this: IHookFunctions): Promise<boolean> {
				const data = staticDataOf(this);
				const wanted = wantedSubscription.call(this);

				// A subscription still on record would keep receiving deliveries nobody can use.
				if (data.webhookId !== undefined) {
					await subscriptionRequest.call(this, 'DELETE', data.webhookId);
					forgetSubscription(data);
				}

				const body: IDataObject = { url: wanted.url, events: wanted.events, agentId: wanted.agentId };
				if (wanted.capability !== null) body.capability = wanted.capability;

				let created: Subscription;
				try {
					created = (await gatewayRequest.call(this, 'POST', '/webhooks', body)) as unknown as Subscription;
				} catch (error) {
					const apiError = new NodeApiError(this.getNode(), error as JsonObject);
					const paths = ((apiError.context.data as IDataObject | undefined)?.details as IDataObject | undefined)?.errors;
					if (Array.isArray(paths) && paths.some((e) => (e as IDataObject)?.path === '/url')) {
						apiError.description = `The gateway refused the webhook URL ${wanted.url}. Its URL policy accepts public addresses only: run the gateway with WEBHOOK_ALLOW_PRIVATE=true (development) or list the n8n host in WEBHOOK_ALLOW_HOSTS.`;
					}
					throw apiError;
				}

				if (typeof created?.id !== 'string' || typeof created.secret !== 'string' || !created.secret) {
					throw new NodeApiError(this.getNode(), (created ?? {}) as unknown as JsonObject, {
						message: 'The gateway did not return the id and secret of the new webhook subscription',
					});
				}
				data.webhookId = created.id;
				data.secret = created.secret;
				return true;
			},

			async delete(this: IHookFunctions): Promise<boolean> {
				const data = staticDataOf(this);
				if (data.webhookId === undefined) return true;
				const result = await subscriptionRequest.call(this, 'DELETE', data.webhookId);
				if (result.gone) {
					this.logger.info(`A2A Trigger "${this.getNode().name}": subscription ${data.webhookId} was already gone`);
				}
				forgetSubscription(data);
				return true;
			},
		},
	};

	async webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
		const req = this.getRequestObject();
		const res = this.getResponseObject();
		const { secret } = staticDataOf(this);

		const refuse = (status: number, message: string): IWebhookResponseData => {
			res.status(status).json({ error: message });
			return { noWebhookResponse: true };
		};

		if (!secret) {
			this.logger.warn(`A2A Trigger "${this.getNode().name}" refused a delivery: no subscription secret is stored; activate the workflow again`);
			return refuse(401, 'no subscription is registered for this trigger');
		}
		const raw: unknown = req.rawBody;
		if (!(Buffer.isBuffer(raw) || typeof raw === 'string')) {
			return refuse(401, 'the request has no body to verify');
		}
		if (!verifyDealScaleSignature(secret, raw, req.headers[SIGNATURE_HEADER])) {
			return refuse(401, 'invalid or missing X-DealScale-Signature');
		}

		// Parsed from the verified bytes, so the item is exactly what the gateway signed.
		let delivery: IDataObject;
		try {
			delivery = jsonParse<IDataObject>(Buffer.isBuffer(raw) ? raw.toString('utf8') : raw);
		} catch (error) {
			return refuse(400, `the delivery body is not JSON: ${(error as Error).message}`);
		}
		if (!delivery || typeof delivery !== 'object' || Array.isArray(delivery) || typeof delivery.task !== 'object' || delivery.task === null) {
			return refuse(400, 'the delivery body is not a DealScale task event ({event, deliveredAt, task})');
		}

		const deliveryId = req.headers[DELIVERY_HEADER];
		return {
			workflowData: [
				this.helpers.returnJsonArray({
					event: delivery.event,
					deliveredAt: delivery.deliveredAt,
					task: delivery.task,
					deliveryId: typeof deliveryId === 'string' ? deliveryId : null,
				}),
			],
		};
	}
}
