/**
 * A capability's input JSON Schema, as the agent card publishes it, turned into resource-mapper
 * fields for the editor, and the values the editor produced turned back into the JSON the schema
 * asks for (arrays and objects typed in as JSON or lists, numbers typed in as text). Pure code.
 */
import type { FieldType, IDataObject, INodePropertyOptions, ResourceMapperField } from 'n8n-workflow';

export interface JsonSchema {
	type?: string | string[];
	title?: string;
	description?: string;
	properties?: Record<string, JsonSchema>;
	required?: string[];
	items?: JsonSchema;
	enum?: unknown[];
	format?: string;
	default?: unknown;
	anyOf?: JsonSchema[];
	oneOf?: JsonSchema[];
	[key: string]: unknown;
}

/** A value the schema cannot accept at `path` (a JSON pointer under /inputs). */
export class InputValueError extends Error {
	constructor(
		readonly path: string,
		message: string,
	) {
		super(message);
		this.name = 'InputValueError';
	}
}

/** The schema's type, the first non-null one when it allows several. */
export function primaryType(schema: JsonSchema | undefined): string | undefined {
	if (!schema) return undefined;
	if (typeof schema.type === 'string') return schema.type;
	if (Array.isArray(schema.type)) return schema.type.find((t) => t !== 'null');
	const alternatives = schema.anyOf ?? schema.oneOf;
	if (Array.isArray(alternatives)) {
		for (const alternative of alternatives) {
			const t = primaryType(alternative);
			if (t && t !== 'null') return t;
		}
	}
	if (schema.properties) return 'object';
	if (schema.items) return 'array';
	return undefined;
}

/** The resource-mapper field type that edits a value of this schema. */
export function fieldTypeOf(schema: JsonSchema): FieldType {
	const type = primaryType(schema);
	if (Array.isArray(schema.enum) && schema.enum.length > 0 && type !== 'array' && type !== 'object') {
		return 'options';
	}
	switch (type) {
		case 'integer':
		case 'number':
			return 'number';
		case 'boolean':
			return 'boolean';
		case 'array':
			return 'array';
		case 'object':
			return 'object';
		case 'string':
			if (schema.format === 'date-time') return 'dateTime';
			if (schema.format === 'uri' || schema.format === 'url') return 'url';
			return 'string';
		default:
			return 'string';
	}
}

function enumOptions(schema: JsonSchema): INodePropertyOptions[] {
	return (schema.enum ?? [])
		.filter((v): v is string | number | boolean => ['string', 'number', 'boolean'].includes(typeof v))
		.map((v) => ({ name: String(v), value: v }));
}

function defaultOf(schema: JsonSchema): string | number | boolean | null | undefined {
	const value = schema.default;
	if (value === undefined) return undefined;
	if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) {
		return value as string | number | boolean | null;
	}
	return JSON.stringify(value);
}

/** One resource-mapper field per property of the input schema, required ones marked. */
export function schemaToFields(schema: JsonSchema | undefined): ResourceMapperField[] {
	const properties = schema?.properties ?? {};
	const required = new Set(schema?.required ?? []);
	return Object.entries(properties).map(([id, property]) => {
		const type = fieldTypeOf(property);
		const field: ResourceMapperField = {
			id,
			displayName: property.title ? `${property.title} (${id})` : id,
			required: required.has(id),
			defaultMatch: false,
			canBeUsedToMatch: false,
			display: true,
			type,
		};
		if (type === 'options') field.options = enumOptions(property);
		const defaultValue = defaultOf(property);
		if (defaultValue !== undefined) field.defaultValue = defaultValue;
		return field;
	});
}

const isEmpty = (value: unknown) =>
	value === undefined || value === null || (typeof value === 'string' && value.trim() === '');

function describe(value: unknown): string {
	const text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
	return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function parseJson(text: string, path: string, what: string): unknown {
	let parsed: unknown;
	let valid = true;
	try {
		parsed = JSON.parse(text);
	} catch {
		valid = false;
	}
	if (!valid) throw new InputValueError(path, `expects ${what} (JSON), got ${describe(text)}`);
	return parsed;
}

/**
 * Converts a value typed into the editor into what `schema` describes: "3" to 3 for numbers,
 * "true" to true, a JSON text or a comma-separated list to an array, JSON text to an object;
 * nested arrays and objects are converted item by item and property by property. Anything it
 * cannot make sense of is passed on unchanged, so the gateway's schema check names it.
 */
export function coerceValue(value: unknown, schema: JsonSchema | undefined, path: string): unknown {
	if (!schema || value === undefined || value === null) return value;
	const type = primaryType(schema);
	switch (type) {
		case 'integer':
		case 'number': {
			if (typeof value === 'number') return value;
			if (typeof value === 'string' && value.trim() !== '') {
				const n = Number(value.trim());
				if (!Number.isFinite(n)) throw new InputValueError(path, `expects a number, got ${describe(value)}`);
				if (type === 'integer' && !Number.isInteger(n)) {
					throw new InputValueError(path, `expects an integer, got ${describe(value)}`);
				}
				return n;
			}
			return value;
		}
		case 'boolean': {
			if (typeof value === 'boolean') return value;
			if (typeof value === 'string') {
				const text = value.trim().toLowerCase();
				if (text === 'true') return true;
				if (text === 'false') return false;
				throw new InputValueError(path, `expects true or false, got ${describe(value)}`);
			}
			return value;
		}
		case 'string': {
			if (typeof value === 'number' || typeof value === 'boolean') return String(value);
			return value;
		}
		case 'array': {
			let list: unknown = value;
			if (typeof value === 'string') {
				const text = value.trim();
				if (text.startsWith('[')) list = parseJson(text, path, 'an array');
				else if (text === '') list = [];
				else list = text.split(',').map((part) => part.trim()).filter((part) => part !== '');
			}
			if (!Array.isArray(list)) return value;
			return list.map((item, index) => coerceValue(item, schema.items, `${path}/${index}`));
		}
		case 'object': {
			let object: unknown = value;
			if (typeof value === 'string') {
				const text = value.trim();
				object = text === '' ? {} : parseJson(text, path, 'an object');
			}
			if (!object || typeof object !== 'object' || Array.isArray(object)) return object;
			return coerceObject(object as IDataObject, schema, path);
		}
		default:
			return value;
	}
}

/** Converts each known property of `values` by its schema; unknown ones are kept as they are. */
export function coerceObject(values: IDataObject, schema: JsonSchema | undefined, path = ''): IDataObject {
	const properties = schema?.properties ?? {};
	const out: IDataObject = {};
	for (const [key, value] of Object.entries(values)) {
		out[key] = coerceValue(value, properties[key], `${path}/${key}`) as IDataObject[string];
	}
	return out;
}

/**
 * The inputs of a task from the resource mapper's values: fields left empty are left out (so
 * optional ones keep the capability's defaults), the rest converted by the schema.
 */
export function inputsFromFields(
	values: IDataObject | null | undefined,
	schema: JsonSchema | undefined,
): IDataObject {
	const filled: IDataObject = {};
	for (const [key, value] of Object.entries(values ?? {})) {
		if (!isEmpty(value)) filled[key] = value;
	}
	return coerceObject(filled, schema, '/inputs');
}

/**
 * One task's inputs for several items (batch): a property whose value is an array is the
 * concatenation of that property's arrays over the items, in item order; any other property
 * takes the value of the first item that has it.
 */
export function mergeBatchInputs(perItem: IDataObject[]): IDataObject {
	const merged: IDataObject = {};
	const arrays = new Set<string>();
	for (const inputs of perItem) {
		for (const [key, value] of Object.entries(inputs)) {
			if (!(key in merged)) {
				if (Array.isArray(value)) {
					arrays.add(key);
					merged[key] = [...value] as IDataObject[string];
				} else {
					merged[key] = value;
				}
			} else if (arrays.has(key)) {
				const list = merged[key] as unknown[];
				if (Array.isArray(value)) list.push(...value);
				else if (value !== undefined && value !== null) list.push(value);
			}
		}
	}
	return merged;
}
