// CloudFormation templates as far as the double executes them: JSON bodies, parameters (String,
// Number, CommaDelimitedList, List<...>, AWS-specific strings), the AWS::LanguageExtensions
// `Fn::ForEach::<Name>` loop, and the intrinsics a compute stack needs (Ref, Fn::Sub, Fn::GetAtt,
// Fn::Join, Fn::Select, Fn::Split, Fn::Base64). Anything else is refused up front, so a template the
// double cannot really run fails loudly instead of being half-applied.
import { ApiError } from './wire';

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface ResourceDefinition { Type: string; Properties: JsonObject; DependsOn: string[] }
export interface OutputDefinition { Value: Json; Description?: string }

export type ParameterValue = string | string[];

export interface PreparedTemplate {
  description?: string;
  /** Parameter values as given (lists still comma-joined), for DescribeStacks. */
  parameters: Record<string, string>;
  parameterTypes: Record<string, string>;
  resources: Record<string, ResourceDefinition>;
  outputs: Record<string, OutputDefinition>;
  transforms: string[];
}

/** What intrinsics resolve against while a stack operation runs. */
export interface EvaluationContext {
  parameters: Record<string, ParameterValue>;
  pseudo: Record<string, string>;
  physicalId(logicalId: string): string;
  attribute(logicalId: string, name: string): string;
}

export const LANGUAGE_EXTENSIONS = 'AWS::LanguageExtensions';
const SUPPORTED_INTRINSICS = new Set(['Ref', 'Fn::Sub', 'Fn::GetAtt', 'Fn::Join', 'Fn::Select', 'Fn::Split', 'Fn::Base64']);
const PSEUDO_PARAMETERS = ['AWS::StackName', 'AWS::StackId', 'AWS::Region', 'AWS::AccountId', 'AWS::Partition', 'AWS::URLSuffix', 'AWS::NoValue'];
/** Marks a property removed by `{"Ref": "AWS::NoValue"}`. */
const NO_VALUE = Symbol('AWS::NoValue');

const invalid = (message: string): ApiError => new ApiError('ValidationError', message);

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

const isListType = (type: string): boolean => type === 'CommaDelimitedList' || type.startsWith('List<');

/** Values for Ref: lists split on commas, the way CloudFormation hands them to a template. */
export function parameterValues(template: PreparedTemplate): Record<string, ParameterValue> {
  return Object.fromEntries(Object.entries(template.parameters).map(([name, value]) =>
    [name, isListType(template.parameterTypes[name] ?? 'String') ? (value === '' ? [] : value.split(',').map((v) => v.trim())) : value]));
}

function parseBody(body: string): JsonObject {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw invalid('Template format error: JSON not well-formed. (The AWS double reads JSON templates only.)');
  }
  if (!isObject(parsed)) throw invalid('Template format error: the template must be a JSON object');
  return parsed;
}

function resolveParameters(declared: JsonObject, given: Record<string, string | undefined>, previous: Record<string, string>): { values: Record<string, string>; types: Record<string, string> } {
  const unknown = Object.keys(given).filter((name) => !(name in declared));
  if (unknown.length > 0) throw invalid(`Parameters: [${unknown.join(', ')}] do not exist in the template`);
  const values: Record<string, string> = {};
  const types: Record<string, string> = {};
  const missing: string[] = [];
  for (const [name, declaration] of Object.entries(declared)) {
    if (!isObject(declaration) || typeof declaration.Type !== 'string') throw invalid(`Template format error: Parameter '${name}' has no Type`);
    types[name] = declaration.Type;
    // `undefined` in given means UsePreviousValue.
    const value = name in given ? (given[name] ?? previous[name]) : declaration.Default === undefined ? undefined : String(declaration.Default);
    if (value === undefined) { missing.push(name); continue; }
    const allowed = declaration.AllowedValues;
    if (Array.isArray(allowed) && !allowed.map(String).includes(value)) {
      throw invalid(`Parameter '${name}' must be one of AllowedValues`);
    }
    if (declaration.Type === 'Number' && Number.isNaN(Number(value))) throw invalid(`Parameter '${name}' must be a number.`);
    values[name] = value;
  }
  if (missing.length > 0) throw invalid(`Parameters: [${missing.join(', ')}] must have values`);
  return { values, types };
}

// Fn::ForEach: `${Id}` and `&{Id}` (only alphanumerics kept) in keys and strings, and {"Ref": "Id"}.
function substitute(text: string, identifier: string, item: string): string {
  return text.replaceAll(`\${${identifier}}`, item).replaceAll(`&{${identifier}}`, item.replace(/[^A-Za-z0-9]/g, ''));
}

function substituteDeep(value: Json, identifier: string, item: string): Json {
  if (typeof value === 'string') return substitute(value, identifier, item);
  if (Array.isArray(value)) return value.map((v) => substituteDeep(v, identifier, item));
  if (!isObject(value)) return value;
  if (Object.keys(value).length === 1 && value.Ref === identifier) return item;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [substitute(k, identifier, item), substituteDeep(v, identifier, item)]));
}

function forEachCollection(collection: Json, parameters: Record<string, ParameterValue>, loop: string): string[] {
  if (Array.isArray(collection)) return collection.map(String);
  if (isObject(collection) && typeof collection.Ref === 'string') {
    const value = parameters[collection.Ref];
    if (value === undefined) throw invalid(`Template format error: ${loop} refers to unknown parameter ${collection.Ref}`);
    return Array.isArray(value) ? value : [value];
  }
  throw invalid(`Template format error: ${loop} collection must be a list or a Ref to a list parameter`);
}

function expandForEach(section: JsonObject, parameters: Record<string, ParameterValue>, enabled: boolean): JsonObject {
  const expanded: JsonObject = {};
  const add = (key: string, value: Json): void => {
    if (key in expanded) throw invalid(`Template format error: duplicate key '${key}' after Fn::ForEach expansion`);
    expanded[key] = value;
  };
  for (const [key, value] of Object.entries(section)) {
    if (!key.startsWith('Fn::ForEach::')) { add(key, value); continue; }
    if (!enabled) throw invalid(`Template format error: ${key} needs the ${LANGUAGE_EXTENSIONS} transform`);
    if (!Array.isArray(value) || value.length !== 3 || typeof value[0] !== 'string' || !isObject(value[2])) {
      throw invalid(`Template format error: ${key} must be [identifier, collection, {fragment}]`);
    }
    const [identifier, collection, fragment] = value as [string, Json, JsonObject];
    for (const item of forEachCollection(collection, parameters, key)) {
      for (const [fragmentKey, fragmentBody] of Object.entries(fragment)) {
        const nested = { [substitute(fragmentKey, identifier, item)]: substituteDeep(fragmentBody, identifier, item) };
        for (const [k, v] of Object.entries(expandForEach(nested, parameters, enabled))) add(k, v);
      }
    }
  }
  return expanded;
}

function checkIntrinsics(value: Json, where: string): void {
  if (Array.isArray(value)) { value.forEach((v) => checkIntrinsics(v, where)); return; }
  if (!isObject(value)) return;
  for (const [key, inner] of Object.entries(value)) {
    if ((key.startsWith('Fn::') || key === 'Condition') && !SUPPORTED_INTRINSICS.has(key)) {
      throw invalid(`Template error: ${key} in ${where} is not supported by the AWS double`);
    }
    checkIntrinsics(inner, where);
  }
}

/** Parses and expands a template body against the given parameters (undefined = previous value). */
export function prepareTemplate(body: string, given: Record<string, string | undefined>, previous: Record<string, string> = {}): PreparedTemplate {
  const raw = parseBody(body);
  const transformField = raw.Transform;
  const transforms = transformField === undefined ? [] : (Array.isArray(transformField) ? transformField : [transformField]).map(String);
  const unsupported = transforms.filter((t) => t !== LANGUAGE_EXTENSIONS);
  if (unsupported.length > 0) throw invalid(`Template format error: transform ${unsupported.join(', ')} is not supported by the AWS double`);
  if (raw.Conditions !== undefined) throw invalid('Template error: Conditions are not supported by the AWS double');
  const declared = isObject(raw.Parameters) ? raw.Parameters : {};
  const { values, types } = resolveParameters(declared, given, previous);
  const template: PreparedTemplate = {
    description: typeof raw.Description === 'string' ? raw.Description : undefined,
    parameters: values, parameterTypes: types, resources: {}, outputs: {}, transforms,
  };
  const refValues = parameterValues(template);
  const enabled = transforms.includes(LANGUAGE_EXTENSIONS);
  if (!isObject(raw.Resources) || Object.keys(raw.Resources).length === 0) throw invalid('Template format error: At least one Resources member must be defined.');
  for (const [logicalId, definition] of Object.entries(expandForEach(raw.Resources, refValues, enabled))) {
    if (!/^[A-Za-z0-9]+$/.test(logicalId)) throw invalid(`Template format error: Resource name ${logicalId} is non alphanumeric.`);
    if (!isObject(definition) || typeof definition.Type !== 'string') throw invalid(`Template format error: [/Resources/${logicalId}] has no Type`);
    if (definition.Condition !== undefined) throw invalid('Template error: resource Conditions are not supported by the AWS double');
    const properties = isObject(definition.Properties) ? definition.Properties : {};
    checkIntrinsics(properties, `Resources/${logicalId}`);
    const dependsOn = definition.DependsOn === undefined ? [] : (Array.isArray(definition.DependsOn) ? definition.DependsOn : [definition.DependsOn]).map(String);
    template.resources[logicalId] = { Type: definition.Type, Properties: properties, DependsOn: dependsOn };
  }
  const outputs = isObject(raw.Outputs) ? expandForEach(raw.Outputs, refValues, enabled) : {};
  for (const [key, output] of Object.entries(outputs)) {
    if (!isObject(output) || output.Value === undefined) throw invalid(`Template format error: Output ${key} is malformed.`);
    checkIntrinsics(output.Value, `Outputs/${key}`);
    template.outputs[key] = { Value: output.Value, Description: typeof output.Description === 'string' ? output.Description : undefined };
  }
  checkReferences(template);
  dependencyWaves(template.resources);
  return template;
}

function subReferences(text: string): string[] {
  return [...text.matchAll(/\$\{([^!}][^}]*)\}/g)].map((m) => (m[1] ?? '').split('.')[0] ?? '');
}

/** The resources one value refers to (Ref, Fn::GetAtt, names inside Fn::Sub). */
function referencedNames(value: Json, into: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) { value.forEach((v) => referencedNames(v, into)); return into; }
  if (!isObject(value)) return into;
  if (typeof value.Ref === 'string') into.add(value.Ref);
  const getAtt = value['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') into.add(getAtt[0]);
  if (typeof getAtt === 'string') into.add(getAtt.split('.')[0] ?? '');
  const sub = value['Fn::Sub'];
  const subText = typeof sub === 'string' ? sub : Array.isArray(sub) && typeof sub[0] === 'string' ? sub[0] : undefined;
  const subVariables = Array.isArray(sub) && isObject(sub[1]) ? Object.keys(sub[1]) : [];
  if (subText !== undefined) for (const name of subReferences(subText)) if (!subVariables.includes(name)) into.add(name);
  for (const [key, inner] of Object.entries(value)) if (key !== 'Ref') referencedNames(inner, into);
  return into;
}

function checkReferences(template: PreparedTemplate): void {
  const known = new Set([...Object.keys(template.parameters), ...PSEUDO_PARAMETERS, ...Object.keys(template.resources)]);
  const unresolved = new Set<string>();
  const check = (value: Json): void => { for (const name of referencedNames(value)) if (!known.has(name)) unresolved.add(name); };
  for (const resource of Object.values(template.resources)) {
    check(resource.Properties);
    for (const dependency of resource.DependsOn) if (!(dependency in template.resources)) unresolved.add(dependency);
  }
  for (const output of Object.values(template.outputs)) check(output.Value);
  if (unresolved.size > 0) throw invalid(`Template format error: Unresolved resource dependencies [${[...unresolved].join(', ')}] in the Resources block of the template`);
}

/** Resources grouped so each group depends only on earlier ones; a group can be created in parallel. */
export function dependencyWaves(resources: Record<string, ResourceDefinition>): string[][] {
  const dependencies = new Map(Object.entries(resources).map(([id, r]) =>
    [id, new Set([...referencedNames(r.Properties), ...r.DependsOn].filter((name) => name in resources && name !== id))]));
  const waves: string[][] = [];
  const placed = new Set<string>();
  while (placed.size < dependencies.size) {
    const wave = [...dependencies].filter(([id, deps]) => !placed.has(id) && [...deps].every((d) => placed.has(d))).map(([id]) => id);
    if (wave.length === 0) throw invalid(`Circular dependency between resources: [${[...dependencies.keys()].filter((id) => !placed.has(id)).join(', ')}]`);
    wave.forEach((id) => placed.add(id));
    waves.push(wave);
  }
  return waves;
}

function refValue(name: string, context: EvaluationContext): Json | typeof NO_VALUE {
  if (name === 'AWS::NoValue') return NO_VALUE;
  const parameter = context.parameters[name];
  if (parameter !== undefined) return parameter;
  const pseudo = context.pseudo[name];
  if (pseudo !== undefined) return pseudo;
  return context.physicalId(name);
}

function subText(text: string, variables: JsonObject, context: EvaluationContext): string {
  return text.replace(/\$\{([^}]*)\}/g, (whole, name: string) => {
    if (name.startsWith('!')) return `\${${name.slice(1)}}`;
    const variable = variables[name];
    if (variable !== undefined) return String(evaluate(variable, context));
    if (name.includes('.') && !name.startsWith('AWS::')) {
      const [logicalId = '', ...attribute] = name.split('.');
      return context.attribute(logicalId, attribute.join('.'));
    }
    const value = refValue(name, context);
    if (value === NO_VALUE) return '';
    return Array.isArray(value) ? value.join(',') : String(value);
  });
}

function evaluateIntrinsic(name: string, argument: Json, context: EvaluationContext): Json | typeof NO_VALUE {
  switch (name) {
    case 'Ref': return refValue(String(argument), context);
    case 'Fn::Sub': {
      if (typeof argument === 'string') return subText(argument, {}, context);
      if (Array.isArray(argument) && typeof argument[0] === 'string' && isObject(argument[1])) return subText(argument[0], argument[1], context);
      throw invalid('Template error: Fn::Sub takes a string or [string, {variables}]');
    }
    case 'Fn::GetAtt': {
      const [logicalId, attribute] = typeof argument === 'string' ? argument.split('.') : Array.isArray(argument) ? argument.map(String) : [];
      if (logicalId === undefined || attribute === undefined) throw invalid('Template error: Fn::GetAtt takes [resource, attribute]');
      return context.attribute(logicalId, attribute);
    }
    case 'Fn::Join': {
      const [delimiter, parts] = Array.isArray(argument) ? argument : [];
      const values = evaluate(parts ?? [], context);
      if (!Array.isArray(values)) throw invalid('Template error: Fn::Join takes [delimiter, list]');
      return values.map(String).join(String(delimiter ?? ''));
    }
    case 'Fn::Select': {
      const [index, items] = Array.isArray(argument) ? argument : [];
      const values = evaluate(items ?? [], context);
      const chosen = Array.isArray(values) ? values[Number(evaluate(index ?? 0, context))] : undefined;
      if (chosen === undefined) throw invalid('Template error: Fn::Select index out of range');
      return chosen;
    }
    case 'Fn::Split': {
      const [delimiter, text] = Array.isArray(argument) ? argument : [];
      return String(evaluate(text ?? '', context)).split(String(delimiter));
    }
    case 'Fn::Base64': return Buffer.from(String(evaluate(argument, context))).toString('base64');
    default: throw invalid(`Template error: ${name} is not supported by the AWS double`);
  }
}

/** Resolves every intrinsic in a value; properties set to AWS::NoValue disappear. */
export function evaluate(value: Json, context: EvaluationContext): Json {
  const resolved = evaluateOrRemove(value, context);
  return resolved === NO_VALUE ? null : resolved;
}

function evaluateOrRemove(value: Json, context: EvaluationContext): Json | typeof NO_VALUE {
  if (Array.isArray(value)) return value.map((v) => evaluateOrRemove(v, context)).filter((v): v is Json => v !== NO_VALUE);
  if (!isObject(value)) return value;
  const keys = Object.keys(value);
  const only = keys[0];
  if (keys.length === 1 && only !== undefined && SUPPORTED_INTRINSICS.has(only)) return evaluateIntrinsic(only, value[only] ?? null, context);
  const result: JsonObject = {};
  for (const [key, inner] of Object.entries(value)) {
    const resolved = evaluateOrRemove(inner, context);
    if (resolved !== NO_VALUE) result[key] = resolved;
  }
  return result;
}
