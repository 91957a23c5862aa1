/**
 * client: the controller side of OpenFlow 1.3 over the project's own codec — connect to a
 * switch, exchange HELLO, send messages, await replies by xid, watch asynchronous messages.
 * Used by tests and examples to drive a switch the way a controller does.
 */

export * from './client.js';
