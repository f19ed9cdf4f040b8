// XML bodies for the two XML protocols the double speaks. EC2 (ec2Query) puts members straight under
// `<ActionResponse>` and wraps list entries in `<item>`; CloudFormation (awsQuery) adds an
// `<ActionResult>` wrapper plus `<ResponseMetadata>` and wraps list entries in `<member>`. Both error
// roots differ as well, so each protocol gets its own pair of functions.

/** A response value: objects become elements named by their keys, arrays become lists. */
export type XmlValue = string | number | boolean | Date | undefined | null | XmlValue[] | XmlObject;
export interface XmlObject { [element: string]: XmlValue }

type ListEntry = 'item' | 'member';

const EC2_NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const CLOUDFORMATION_NAMESPACE = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';
const PROLOGUE = '<?xml version="1.0" encoding="UTF-8"?>\n';

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

function scalarText(value: string | number | boolean | Date): string {
  if (value instanceof Date) return value.toISOString();
  return String(value);
}

// Indented like the recorded EC2 bodies (four spaces), which also keeps failures readable.
function element(name: string, value: XmlValue, entry: ListEntry, depth: number): string {
  if (value === undefined || value === null) return '';
  const pad = '    '.repeat(depth);
  if (Array.isArray(value)) {
    if (value.length === 0) return `${pad}<${name}/>\n`;
    return `${pad}<${name}>\n${value.map((v) => element(entry, v, entry, depth + 1)).join('')}${pad}</${name}>\n`;
  }
  if (typeof value === 'object' && !(value instanceof Date)) {
    return `${pad}<${name}>\n${children(value, entry, depth + 1)}${pad}</${name}>\n`;
  }
  return `${pad}<${name}>${escapeXml(scalarText(value))}</${name}>\n`;
}

function children(value: XmlObject, entry: ListEntry, depth: number): string {
  return Object.entries(value).map(([name, v]) => element(name, v, entry, depth)).join('');
}

export function ec2Success(action: string, requestId: string, result: XmlObject): string {
  return `${PROLOGUE}<${action}Response xmlns="${EC2_NAMESPACE}">\n` +
    element('requestId', requestId, 'item', 1) + children(result, 'item', 1) + `</${action}Response>\n`;
}

export function ec2Error(code: string, message: string, requestId: string): string {
  return `${PROLOGUE}<Response><Errors><Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error></Errors>` +
    `<RequestID>${escapeXml(requestId)}</RequestID></Response>`;
}

export function querySuccess(action: string, requestId: string, result: XmlObject): string {
  return `<${action}Response xmlns="${CLOUDFORMATION_NAMESPACE}">\n` +
    element(`${action}Result`, result, 'member', 1) +
    element('ResponseMetadata', { RequestId: requestId }, 'member', 1) + `</${action}Response>\n`;
}

export function queryError(code: string, message: string, requestId: string, status: number): string {
  const type = status >= 500 ? 'Receiver' : 'Sender';
  return `<ErrorResponse xmlns="${CLOUDFORMATION_NAMESPACE}">\n   <Error>\n      <Type>${type}</Type>\n` +
    `      <Code>${escapeXml(code)}</Code>\n      <Message>${escapeXml(message)}</Message>\n   </Error>\n` +
    `   <RequestId>${escapeXml(requestId)}</RequestId>\n</ErrorResponse>\n`;
}
