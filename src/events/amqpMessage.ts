// One job-status event as an AMQP publish: routing key, body and properties, checked against
// AMQP's limits before anything is sent. An event that fails here can never be published, however
// often it is retried; the sink reports it as rejected so that it cannot hold up the events behind it.
import type * as amqp from 'amqplib';
import { encodeJobStatusMessage, messageId, routingKey, type JobEvent } from './jobStatusMessage';
import { ROUTING_KEY_MAX_BYTES } from './routingKey';

/** AMQP short strings (routing key, message id) are length-prefixed by one byte. */
const SHORT_STRING_MAX_BYTES = 255;

export interface AmqpMessage {
  routingKey: string;
  body: Buffer;
  options: amqp.Options.Publish;
}

function checkShortString(what: string, value: string, maxBytes: number): void {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > maxBytes) throw new Error(`${what} is ${bytes} bytes; AMQP allows ${maxBytes}`);
}

/** The publish of one event; throws, naming the reason, when the event can never be published. */
export function amqpMessage(event: JobEvent): AmqpMessage {
  const key = routingKey(event);
  // The key rule keeps every key within the limit; checked again so that a broken rule parks the
  // event with a clear reason instead of failing inside the AMQP library.
  checkShortString('the routing key', key, ROUTING_KEY_MAX_BYTES);
  const id = messageId(event);
  checkShortString('the message id', id, SHORT_STRING_MAX_BYTES);
  return {
    routingKey: key,
    body: encodeJobStatusMessage(event),
    options: {
      persistent: true,
      messageId: id,
      timestamp: Math.floor(event.time / 1000),
      contentType: 'application/x-thrift',
      type: 'JOB',
    },
  };
}
