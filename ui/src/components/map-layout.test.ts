import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MapEdge, MapNode } from '../api.ts';
import { edgeKey, layout } from './map-layout.ts';

const node = (id: string): MapNode => ({ id, kind: 'process', node: 'n1' });
const edge = (source: string, target: string): MapEdge => ({ source, target, requests: 1, errors: 0, error_rate: 0, rate: 1, p95_ms: 1 });
const column = (placed: ReturnType<typeof layout>['placed'], id: string) => Math.round((placed.get(id)!.x - 110) / 260);

test('a proxy stands between its clients and its upstream, even when a client also calls the upstream', () => {
  const { placed, routes } = layout(['curl', 'nginx', 'app', 'db'].map(node), [edge('curl', 'nginx'), edge('curl', 'app'), edge('nginx', 'app'), edge('app', 'db')]);
  assert.deepEqual(['curl', 'nginx', 'app', 'db'].map((id) => column(placed, id)), [0, 1, 2, 3]);
  // curl → app skips nginx's column: it passes through a slot of its own there, not through the box.
  const via = routes.get(edgeKey('curl', 'app'));
  assert.equal(via?.length, 1);
  assert.equal(via[0].x, placed.get('nginx')!.x);
  assert.ok(Math.abs(via[0].y - placed.get('nginx')!.y) >= 40);
  assert.equal(routes.get(edgeKey('curl', 'nginx')), undefined);
});

test('a cycle does not push columns to the limit, and a service that calls itself stays put', () => {
  const { placed } = layout(['a', 'b', 'c'].map(node), [edge('a', 'b'), edge('b', 'c'), edge('c', 'b'), edge('b', 'b')]);
  assert.deepEqual(['a', 'b', 'c'].map((id) => column(placed, id)), [0, 1, 2]);
  const ring = layout(['x', 'y'].map(node), [edge('x', 'y'), edge('y', 'x')]).placed;
  assert.deepEqual([column(ring, 'x'), column(ring, 'y')], [0, 1]);
});

test('services sit near their callers, so two chains side by side do not cross', () => {
  // Name order alone would put "a-up" above "z-up" and cross the two edges.
  const { placed } = layout(['a', 'z', 'a-up', 'z-up'].map(node), [edge('a', 'z-up'), edge('z', 'a-up')]);
  assert.ok(placed.get('a')!.y < placed.get('z')!.y);
  assert.ok(placed.get('z-up')!.y < placed.get('a-up')!.y);
});

test('edges to services not in the list, and a long chain, are laid out without error', () => {
  const ids = Array.from({ length: 30 }, (_, i) => `s${i}`);
  const { placed, width } = layout(ids.map(node), [...ids.slice(1).map((id, i) => edge(ids[i], id)), edge('s3', 'gone')]);
  assert.equal(placed.size, 30);
  assert.equal(column(placed, 's29'), 8); // deep chains fold into the last column
  assert.ok(width > 0);
});
