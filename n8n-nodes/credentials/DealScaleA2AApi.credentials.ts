import { createHmac } from 'node:crypto';
import type {
	IAuthenticateGeneric,
	ICredentialDataDecryptedObject,
	ICredentialTestRequest,
	ICredentialType,
	IDataObject,
	IHttpRequestHelper,
	INodeProperties,
} from 'n8n-workflow';

/** Lifetime of a minted token; n8n mints a new one when the gateway answers 401. */
export const MINTED_TOKEN_TTL_SECONDS = 3600;
export const MINTED_TOKEN_SCOPES = ['a2a:call', 'a2a:read'];

const base64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

/**
 * An HS256 JWT with the claims the gateway requires: {agentId, tenantId, scopes, iat, exp}, plus
 * `iss` when the gateway checks an issuer.
 */
export function mintGatewayToken(
	signingSecret: string,
	claims: { agentId: string; tenantId: string; issuer?: string },
	nowSeconds: number = Math.floor(Date.now() / 1000),
	ttlSeconds: number = MINTED_TOKEN_TTL_SECONDS,
): string {
	const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
	const payload: IDataObject = {
		agentId: claims.agentId,
		tenantId: claims.tenantId,
		scopes: MINTED_TOKEN_SCOPES,
		iat: nowSeconds,
		exp: nowSeconds + ttlSeconds,
	};
	if (claims.issuer) payload.iss = claims.issuer;
	const body = base64url(JSON.stringify(payload));
	const signature = createHmac('sha256', signingSecret).update(`${header}.${body}`).digest('base64url');
	return `${header}.${body}.${signature}`;
}

/** A token minted from a signing-secret credential's own fields. */
export const mintFromCredential = (credentials: ICredentialDataDecryptedObject) =>
	mintGatewayToken(String(credentials.signingSecret ?? ''), {
		agentId: String(credentials.agentId ?? ''),
		tenantId: String(credentials.tenantId ?? ''),
		issuer: String(credentials.issuer ?? '') || undefined,
	});

/** What a minted token was made for; a token minted for other IDs is not sent (see authenticate). */
const mintedForKey = (credentials: ICredentialDataDecryptedObject) =>
	`${String(credentials.agentId ?? '')}|${String(credentials.tenantId ?? '')}|${String(credentials.issuer ?? '')}`;

export class DealScaleA2AApi implements ICredentialType {
	name = 'dealScaleA2AApi';

	displayName = 'DealScale A2A API';

	icon = {
		light: 'file:dealscale.svg',
		dark: 'file:dealscale.dark.svg',
	} as const;

	documentationUrl = 'https://dealscale.io';

	properties: INodeProperties[] = [
		{
			displayName: 'Gateway URL',
			name: 'baseUrl',
			type: 'string',
			default: '',
			placeholder: 'http://127.0.0.1:8080',
			required: true,
			description: 'Base URL of the DealScale A2A gateway',
		},
		{
			displayName: 'Authentication',
			name: 'authMode',
			type: 'options',
			options: [
				{
					name: 'Token',
					value: 'token',
					description: 'A bearer JWT issued by DealScale',
				},
				{
					name: 'Signing Secret',
					value: 'signingSecret',
					description: 'Mint short-lived tokens from the gateway signing secret',
				},
			],
			default: 'token',
		},
		{
			displayName: 'Token',
			name: 'token',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
			description: 'Bearer JWT with scopes a2a:call and a2a:read',
			displayOptions: { show: { authMode: ['token'] } },
		},
		{
			displayName: 'Agent ID',
			name: 'agentId',
			type: 'string',
			default: 'n8n',
			required: true,
			description: 'The calling agent named in minted tokens (shows in the audit log)',
			displayOptions: { show: { authMode: ['signingSecret'] } },
		},
		{
			displayName: 'Tenant ID',
			name: 'tenantId',
			type: 'string',
			default: '',
			required: true,
			placeholder: '0d3e0000-0000-4000-8000-000000000001',
			description: 'The tenant (UUID) whose credits and data the tasks use',
			displayOptions: { show: { authMode: ['signingSecret'] } },
		},
		{
			displayName: 'Signing Secret',
			name: 'signingSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
			description: 'The gateway HS256 secret (A2A_JWT_SECRET)',
			displayOptions: { show: { authMode: ['signingSecret'] } },
		},
		{
			displayName: 'Issuer',
			name: 'issuer',
			type: 'string',
			default: '',
			description: 'Set when the gateway checks the token issuer (A2A_JWT_ISSUER)',
			displayOptions: { show: { authMode: ['signingSecret'] } },
		},
		{
			displayName: 'Access Token',
			name: 'accessToken',
			type: 'hidden',
			typeOptions: { expirable: true, password: true },
			default: '',
		},
		{
			displayName: 'Minted For',
			name: 'mintedFor',
			type: 'hidden',
			default: '',
		},
	];

	/**
	 * Mints the token in signing-secret mode. n8n calls this when `accessToken` is empty or a request
	 * was answered 401 (an expired token), and stores what it returns in the credential.
	 */
	async preAuthentication(
		this: IHttpRequestHelper,
		credentials: ICredentialDataDecryptedObject,
	): Promise<IDataObject> {
		if (credentials.authMode !== 'signingSecret') return {};
		return { accessToken: mintFromCredential(credentials), mintedFor: mintedForKey(credentials) };
	}

	/**
	 * A minted token is sent only while the agent, tenant and issuer it was made for are still the
	 * credential's; after an edit an empty bearer draws a 401, and n8n mints a new token and retries.
	 */
	authenticate: IAuthenticateGeneric = {
		type: 'generic',
		properties: {
			headers: {
				Authorization:
					'={{ "Bearer " + ($credentials.authMode === "signingSecret" ? ($credentials.mintedFor === (($credentials.agentId || "") + "|" + ($credentials.tenantId || "") + "|" + ($credentials.issuer || "")) ? $credentials.accessToken : "") : $credentials.token) }}',
			},
		},
	};

	test: ICredentialTestRequest = {
		request: {
			baseURL: '={{ $credentials.baseUrl }}',
			url: '/agents',
			method: 'GET',
		},
	};
}
