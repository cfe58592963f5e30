import type { INodeProperties } from 'n8n-workflow';

const run = { operation: ['run'] };

export const DEFAULT_TIMEOUT_SECONDS = 300;
export const DEFAULT_POLL_INTERVAL_SECONDS = 1;

export const properties: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		options: [
			{
				name: 'Run',
				value: 'run',
				description: 'Run a capability of an agent as a task',
				action: 'Run a capability',
			},
			{
				name: 'Get Task',
				value: 'get',
				description: 'Get a task by ID',
				action: 'Get a task',
			},
			{
				name: 'List Tasks',
				value: 'list',
				description: 'List tasks of an agent, newest first',
				action: 'List tasks',
			},
			{
				name: 'Cancel Task',
				value: 'cancel',
				description: 'Cancel a task that has not finished',
				action: 'Cancel a task',
			},
		],
		default: 'run',
	},
	{
		displayName: 'Agent Name or ID',
		name: 'agentId',
		type: 'options',
		typeOptions: { loadOptionsMethod: 'getAgents' },
		required: true,
		default: '',
		description:
			'The agent to call, from the gateway registry. Choose from the list, or specify an ID using an <a href="https://docs.n8n.io/code/expressions/">expression</a>.',
	},
	{
		displayName: 'Capability Name or ID',
		name: 'capability',
		type: 'options',
		typeOptions: {
			loadOptionsMethod: 'getCapabilities',
			loadOptionsDependsOn: ['agentId'],
		},
		required: true,
		default: '',
		displayOptions: { show: run },
		description:
			'The capability (skill) to run. Choose from the list, or specify an ID using an <a href="https://docs.n8n.io/code/expressions/">expression</a>.',
	},
	{
		displayName: 'Input Mode',
		name: 'inputMode',
		type: 'options',
		noDataExpression: true,
		options: [
			{
				name: 'Map Fields',
				value: 'fields',
				description: "One field per input of the capability's schema",
			},
			{
				name: 'JSON',
				value: 'json',
				description: 'The whole inputs object as JSON',
			},
		],
		default: 'fields',
		displayOptions: { show: run },
	},
	{
		displayName: 'Inputs',
		name: 'inputs',
		type: 'resourceMapper',
		noDataExpression: true,
		default: { mappingMode: 'defineBelow', value: null },
		required: true,
		typeOptions: {
			loadOptionsDependsOn: ['agentId', 'capability'],
			resourceMapper: {
				resourceMapperMethod: 'getInputFields',
				mode: 'add',
				fieldWords: { singular: 'input', plural: 'inputs' },
				addAllFields: true,
				multiKeyMatch: false,
				supportAutoMap: false,
				noFieldsError: 'This capability takes no inputs',
			},
		},
		displayOptions: { show: { ...run, inputMode: ['fields'] } },
	},
	{
		displayName: 'Inputs (JSON)',
		name: 'inputsJson',
		type: 'json',
		default: '{}',
		description: "The capability's inputs as a JSON object; expressions are allowed",
		displayOptions: { show: { ...run, inputMode: ['json'] } },
	},
	{
		displayName: 'Mode',
		name: 'mode',
		type: 'options',
		noDataExpression: true,
		options: [
			{
				name: 'Wait for Completion',
				value: 'wait',
				description: 'Follow the task until it finishes and output it (for short tasks)',
			},
			{
				name: 'Release and Resume',
				value: 'releaseAndResume',
				description:
					'Pause the execution and resume it when the gateway delivers the finished task (for long tasks)',
			},
			{
				name: 'Fire and Forget',
				value: 'fireAndForget',
				description: 'Output the accepted task at once without waiting',
			},
		],
		default: 'wait',
		displayOptions: { show: run },
	},
	{
		displayName:
			'The execution pauses here and holds no worker; the gateway calls the execution\'s resume URL when the task finishes. A failed task is output with its status and error: check <code>$json.status</code> in the next node.',
		name: 'releaseNotice',
		type: 'notice',
		default: '',
		displayOptions: { show: { ...run, mode: ['releaseAndResume'] } },
	},
	{
		displayName: 'Batch',
		name: 'batch',
		type: 'boolean',
		default: false,
		description:
			'Whether to run one task for all input items: array inputs are concatenated across the items in order, other inputs are taken from the first item',
		displayOptions: { show: run },
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		displayOptions: { show: run },
		options: [
			{
				displayName: 'Idempotency Key',
				name: 'idempotencyKey',
				type: 'string',
				default: '',
				description:
					'The same key (per tenant and agent) returns the task created first instead of a new one, so a retried execution does not pay twice',
			},
			{
				displayName: 'Poll Interval (Seconds)',
				name: 'pollInterval',
				type: 'number',
				typeOptions: { minValue: 0.05, numberPrecision: 2 },
				default: DEFAULT_POLL_INTERVAL_SECONDS,
				description:
					'How long to wait before the first status check (Wait for Completion); later checks back off up to ten times this, at most 15 seconds',
			},
			{
				displayName: 'Output Result Rows as Items',
				name: 'resultRows',
				type: 'boolean',
				default: false,
				description:
					'Whether a completed task whose result is read in pages (outputs.resultSet: every cluster of a whole-tenant dedupe, every score of a whole-tenant lookalike) outputs one item per row, all pages fetched, instead of the task. Tasks without a result set are output as usual. Wait for Completion only.',
			},
			{
				displayName: 'Priority',
				name: 'priority',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 10 },
				default: 5,
				description: 'Queue priority from 1 to 10, 10 the most urgent',
			},
			{
				displayName: 'Timeout (Seconds)',
				name: 'timeout',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: DEFAULT_TIMEOUT_SECONDS,
				description:
					'Wait for Completion: fail (and cancel the task) when it has not finished by then. Release and Resume: resume without the task when no delivery came by then.',
			},
		],
	},
	{
		displayName: 'Task ID',
		name: 'taskId',
		type: 'string',
		required: true,
		default: '',
		displayOptions: { show: { operation: ['get', 'cancel'] } },
	},
	{
		displayName: 'Reason',
		name: 'reason',
		type: 'string',
		default: '',
		description: 'Why the task is cancelled (kept with the task)',
		displayOptions: { show: { operation: ['cancel'] } },
	},
	{
		displayName: 'Status',
		name: 'status',
		type: 'options',
		options: [
			{ name: 'Any', value: '' },
			{ name: 'Cancelled', value: 'cancelled' },
			{ name: 'Completed', value: 'completed' },
			{ name: 'Failed', value: 'failed' },
			{ name: 'Submitted', value: 'submitted' },
			{ name: 'Timeout', value: 'timeout' },
			{ name: 'Working', value: 'working' },
		],
		default: '',
		description: 'Only tasks in this state',
		displayOptions: { show: { operation: ['list'] } },
	},
	{
		displayName: 'Capability',
		name: 'type',
		type: 'string',
		default: '',
		placeholder: 'validateLeads',
		description: 'Only tasks of this capability; empty for all',
		displayOptions: { show: { operation: ['list'] } },
	},
	{
		displayName: 'Return All',
		name: 'returnAll',
		type: 'boolean',
		default: false,
		description: 'Whether to return all results or only up to a given limit',
		displayOptions: { show: { operation: ['list'] } },
	},
	{
		displayName: 'Limit',
		name: 'limit',
		type: 'number',
		typeOptions: { minValue: 1 },
		default: 50,
		description: 'Max number of results to return',
		displayOptions: { show: { operation: ['list'], returnAll: [false] } },
	},
];
