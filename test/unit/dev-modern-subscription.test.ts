import { acknowledgedFilter, refetchNotices } from '../../src/recovery/subscription.js';

const SUB = 'io.modelcontextprotocol/subscriptionId';
const ack = (id: unknown, notifications?: unknown) => ({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { notifications, _meta: { [SUB]: id } } });

describe('acknowledgedFilter: the filter a server honored, from its acknowledgement of one listen', () => {
  it.each([
    ['the acknowledgement of that listen', ack(7, { toolsListChanged: true }), 7, { toolsListChanged: true }],
    ['one that honors nothing', ack('a', undefined), 'a', {}],
    ["another listen's", ack(8, { toolsListChanged: true }), 7, undefined],
    ['an id of another type', ack('7', { toolsListChanged: true }), 7, undefined],
    ['another notification', { jsonrpc: '2.0', method: 'notifications/tools/list_changed', params: { _meta: { [SUB]: 7 } } }, 7, undefined],
    ['a response', { jsonrpc: '2.0', id: 7, result: {} }, 7, undefined],
    ['nothing', undefined, 7, undefined],
  ])('%s', (_name, message, id, expected) => {
    expect(acknowledgedFilter(message, id)).toEqual(expected);
  });
});

describe('refetchNotices: what a re-opened listen tells its client', () => {
  const meta = (id: string | number) => ({ _meta: { [SUB]: id } });
  it.each([
    ['tools only', { toolsListChanged: true }, [{ jsonrpc: '2.0', method: 'notifications/tools/list_changed', params: meta(1) }]],
    [
      'every list, in a fixed order',
      { resourcesListChanged: true, promptsListChanged: true, toolsListChanged: true },
      ['tools', 'prompts', 'resources'].map((kind) => ({ jsonrpc: '2.0', method: `notifications/${kind}/list_changed`, params: meta(1) })),
    ],
    ['flags set false', { toolsListChanged: false }, []],
    [
      'resource subscriptions: one update each',
      { resourceSubscriptions: ['file:///a', 3, 'file:///b'] },
      ['file:///a', 'file:///b'].map((uri) => ({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri, ...meta(1) } })),
    ],
    ['nothing honored', {}, []],
  ])('%s', (_name, honored, expected) => {
    expect(refetchNotices(1, honored)).toEqual(expected);
  });
});
