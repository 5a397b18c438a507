/** JSON Schemas of what the renderers give, for the APIs that serve them (`.email` documents). */
import { object, text } from '../runtime/json-schema.ts';

const address = object({ name: text, address: text });

/** A rendered email (RenderedEmail) as JSON: the notification as it would be sent. */
export const renderedEmailBody = object({ from: address, to: address, replyTo: address, subject: text, text, html: text }, { description: 'The email, as it would be sent (.email)' });
