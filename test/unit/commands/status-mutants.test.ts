// Exact words, colours and JSON of `distctl status` for each kind of finding (src/commands/status.ts
// renderStatus / statusJson). Colours are shown as tags: <g>green</>, <r>red</>, <b>bold</>.
import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import { renderStatus, statusJson } from '../../../src/commands/status.js';
import type { Ui } from '../../../src/commands/ui.js';
import type { DeploymentStatus } from '../../../src/observe/deployment.js';

const color = new Chalk({ level: 1 });
const ui: Ui = { json: false, color, errorColor: color, clearScreen: '', step: () => undefined, stop: () => undefined };
const tags = (text: string) =>
  text
    .replace(/\x1b\[32m/g, '<g>')
    .replace(/\x1b\[31m/g, '<r>')
    .replace(/\x1b\[1m/g, '<b>')
    .replace(/\x1b\[(39|22)m/g, '</>');
const render = (status: DeploymentStatus) => tags(renderStatus(status, ui)).split('\n');

const unit = (name: string, active = 'active', load = 'loaded') => ({
  name,
  load,
  active,
  sub: active === 'active' ? 'running' : 'dead',
  mainPid: 1,
  since: null,
});
const member = (host: string, state: string, health: number | null = 1, lagSeconds: number | null = 0) => ({
  host,
  container: 'db',
  port: 27017,
  state,
  health,
  lagSeconds,
});

const converged: DeploymentStatus = {
  project: 'p1',
  network: { name: 'br0', exists: true, owned: true, address: '10.0.0.1/24', declared: '10.0.0.1/24' },
  containers: [
    {
      name: 'web',
      state: 'Running',
      declaredIp: '10.0.0.2',
      actualIps: ['10.0.0.2'],
      units: [unit('web-server.service')],
      proxies: [{ device: 'expose-3000', listen: 'tcp:127.0.0.1:3000', present: true }],
      resources: null,
      ports: [],
    },
    {
      name: 'db1',
      state: 'Running',
      declaredIp: '10.0.0.3',
      actualIps: ['10.0.0.3'],
      units: [unit('mongod-27017.service'), unit('mongod-27018')],
      proxies: [],
      resources: null,
      ports: [],
    },
  ],
  services: [
    {
      name: 'web-server',
      container: 'web',
      url: 'http://10.0.0.2:3000',
      health: { ok: true, status: 200, body: {} },
      ready: { ok: true, status: 200, body: { ready: true } },
    },
  ],
  databases: {
    replicaSets: [
      {
        name: 'rsA',
        reachable: true,
        initiated: true,
        primary: '10.0.0.3:27017',
        reportedBy: '10.0.0.3:27017',
        members: [member('10.0.0.3:27017', 'PRIMARY'), member('10.0.0.3:27018', 'SECONDARY', 1, 2)],
      },
    ],
    standalones: [{ name: 'users', host: '10.0.0.4:27017', container: 'db3', reachable: true }],
  },
  differences: [],
} as unknown as DeploymentStatus;

describe('renderStatus', () => {
  it('a converged deployment: every table, all green, and the closing line', () => {
    expect(render(converged)).toEqual([
      '<b>project p1</>',
      '',
      'network br0: <g>10.0.0.1/24</>',
      '',
      '<b>containers</>',
      'NAME  STATE    DECLARED IP  ACTUAL IP  CPU  MEMORY  DISK  PROCS  UNITS',
      'web   <g>running</>  10.0.0.2     <g>10.0.0.2</>   -    -       -     -      web-server <g>active</>',
      'db1   <g>running</>  10.0.0.3     <g>10.0.0.3</>   -    -       -     -      mongod-27017 <g>active</>, mongod-27018 <g>active</>',
      '',
      '<b>exposed</>',
      'tcp:127.0.0.1:3000 → web <g>present</>',
      '',
      '<b>services</>',
      'NAME        URL                   HEALTH        READY',
      'web-server  http://10.0.0.2:3000  <g>answered 200</>  <g>ready</>',
      '',
      '<b>databases</>',
      'NAME   MEMBER          STATE      HEALTH  LAG',
      'rsA    10.0.0.3:27017  <g>PRIMARY</>    1       0 s',
      'rsA    10.0.0.3:27018  <g>SECONDARY</>  1       2 s',
      'users  10.0.0.4:27017  <g>reachable</>  -       -',
      '',
      '<g>Everything is as declared.</>',
    ]);
  });

  it('a drifted deployment: each finding in red, in its place, and the differences counted', () => {
    const web = converged.services[0]!;
    const drifted = {
      ...converged,
      network: { ...converged.network, address: '10.9.0.1/24' },
      containers: [
        {
          ...converged.containers[0]!,
          state: 'Stopped',
          actualIps: [],
          units: [unit('web-server.service', 'failed'), unit('extra.service', 'inactive', 'not-found')],
          proxies: [{ device: 'expose-3000', listen: 'tcp:127.0.0.1:3000', present: false }],
        },
        { ...converged.containers[1]!, actualIps: ['10.0.0.3', '10.0.0.9'], units: [] },
        {
          ...converged.containers[1]!,
          name: 'db2',
          ports: [
            { unit: 'mongod-27017.service', port: 27017, served: false },
            { unit: 'mongod-27017.service', port: 27019, served: false },
            { unit: 'mongod-27018', port: 27018, served: null },
          ],
        },
      ],
      services: [
        {
          ...web,
          health: { ok: false, status: null, error: 'ECONNREFUSED' },
          ready: { ok: false, status: null, error: 'ECONNREFUSED' },
        },
        {
          ...web,
          name: 'a',
          ready: {
            ok: false,
            status: 503,
            body: {
              shards: { rsA: 'reachable', rsB: 'unreachable' },
              database: 'unreachable',
              authServer: 'unreachable',
            },
          },
        },
        { ...web, name: 'b', ready: { ok: false, status: 503, body: 'busy' } },
        {
          ...web,
          name: 'c',
          ready: { ok: false, status: 503, body: { database: 'reachable', authServer: 'reachable' } },
        },
        { ...web, name: 'd', ready: { ok: false, status: 500, body: null } },
      ],
      databases: {
        replicaSets: [
          { name: 'rsA', reachable: false, reason: 'unreachable', error: 'timed out' },
          {
            ...converged.databases.replicaSets[0]!,
            name: 'rsB',
            members: [member('10.0.0.5:27017', 'RECOVERING', null, null)],
          },
        ],
        standalones: [
          {
            name: 'users',
            host: '10.0.0.4:27017',
            container: 'db3',
            reachable: false,
            reason: 'unreachable',
            error: 'ECONNREFUSED',
          },
        ],
      },
      differences: ['one', 'two'],
    } as unknown as DeploymentStatus;
    expect(render(drifted)).toEqual([
      '<b>project p1</>',
      '',
      'network br0: <r>10.9.0.1/24</>',
      '',
      '<b>containers</>',
      'NAME  STATE    DECLARED IP  ACTUAL IP          CPU  MEMORY  DISK  PROCS  UNITS',
      'web   <r>stopped</>  10.0.0.2     <r>-</>                  -    -       -     -      web-server <r>failed</>, extra <r>not installed</>',
      'db1   <g>running</>  10.0.0.3     <r>10.0.0.3 10.0.0.9</>  -    -       -     -      -',
      'db2   <g>running</>  10.0.0.3     <g>10.0.0.3</>           -    -       -     -      ' +
        'mongod-27017 <g>active</> <r>port 27017, 27019 not served</>, mongod-27018 <g>active</>',
      '',
      '<b>exposed</>',
      'tcp:127.0.0.1:3000 → web <r>missing</>',
      '',
      '<b>services</>',
      'NAME        URL                   HEALTH                      READY',
      'web-server  http://10.0.0.2:3000  <r>unreachable (ECONNREFUSED)</>  <r>unreachable (ECONNREFUSED)</>',
      'a           http://10.0.0.2:3000  <g>answered 200</>                <r>down: rsB, database, auth-server</>',
      'b           http://10.0.0.2:3000  <g>answered 200</>                <r>answered 503</>',
      'c           http://10.0.0.2:3000  <g>answered 200</>                <r>answered 503</>',
      'd           http://10.0.0.2:3000  <g>answered 200</>                <r>answered 500</>',
      '',
      '<b>databases</>',
      'NAME   MEMBER          STATE        HEALTH  LAG',
      'rsA    -               <r>unreachable</>  -       -',
      'rsB    10.0.0.5:27017  <r>RECOVERING</>   ?       -',
      'users  10.0.0.4:27017  <r>unreachable</>  -       -',
      '',
      '<r>2 differences from the topology:</>',
      '  - one',
      '  - two',
    ]);
  });

  it('a missing network, no proxies, no services, no databases, exactly one difference', () => {
    const bare = {
      ...converged,
      network: { ...converged.network, exists: false, address: null },
      containers: [{ ...converged.containers[1]!, state: 'missing', actualIps: [] }],
      services: [],
      databases: { replicaSets: [], standalones: [] },
      differences: ['network br0 does not exist'],
    } as unknown as DeploymentStatus;
    expect(render(bare)).toEqual([
      '<b>project p1</>',
      '',
      'network br0: <r>missing</>',
      '',
      '<b>containers</>',
      'NAME  STATE    DECLARED IP  ACTUAL IP  CPU  MEMORY  DISK  PROCS  UNITS',
      'db1   <r>missing</>  10.0.0.3     <r>-</>          -    -       -     -      mongod-27017 <g>active</>, mongod-27018 <g>active</>',
      '',
      '<r>1 difference from the topology:</>',
      '  - network br0 does not exist',
    ]);
    const noAddress = { ...bare, network: { ...bare.network, exists: true } };
    expect(render(noAddress)[2]).toBe('network br0: <r>no address</>');
  });
});

describe('statusJson', () => {
  it('says ok, and per container whether its address and each unit are as declared', () => {
    const [web, db1] = converged.containers as [
      DeploymentStatus['containers'][number],
      DeploymentStatus['containers'][number],
    ];
    const okUnits = (container: typeof web) => container.units.map((u) => ({ ...u, ok: true }));
    expect(statusJson(converged)).toEqual({
      ok: true,
      deployed: true,
      project: 'p1',
      network: converged.network,
      cluster: null,
      drift: [],
      containers: [
        { ...web, ipOk: true, units: okUnits(web) },
        { ...db1, ipOk: true, units: okUnits(db1) },
      ],
      services: converged.services,
      databases: converged.databases,
      differences: [],
    });
    const drifted = {
      ...converged,
      containers: [
        { ...web, actualIps: ['10.0.0.2', '10.0.0.7'], units: [unit('a.service', 'failed')] },
        { ...db1, actualIps: ['10.0.0.9'] },
        { ...db1, name: 'db9', actualIps: [] },
      ],
      differences: ['x'],
    } as DeploymentStatus;
    const json = statusJson(drifted) as { ok: boolean; containers: { ipOk: boolean; units: { ok: boolean }[] }[] };
    expect(json.ok).toBe(false);
    expect(json.containers.map((c) => [c.ipOk, c.units.map((u) => u.ok)])).toEqual([
      [false, [false]],
      [false, [true, true]],
      [false, [true, true]],
    ]);
  });
});
