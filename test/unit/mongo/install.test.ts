import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DistctlError } from '../../../src/errors/index.js';
import {
  fingerprintsOf,
  installMongo,
  MONGODB_SIGNING_KEYS,
  parseMongodVersion,
  parseOsRelease,
  planRepositoryInstall,
} from '../../../src/mongo/install.js';
import { FakeOps, type Responder } from './fake-ops.js';

const JAMMY =
  'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nVERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\nUBUNTU_CODENAME=jammy\n';
const BOOKWORM =
  'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n';
const MONGOD_7 =
  '/usr/bin/mongod\ndb version v7.0.14\nBuild Info: {\n    "version": "7.0.14",\n    "gitVersion": "ce59cfc6a3c5e5c067dca0d30697edd68d4f5188"\n}\n';
const KEY_7_COLONS = `pub:-:4096:1:160D26BB1785BA38:1661903590:1819583590::-:::scSC::::::23::0:\nfpr:::::::::${MONGODB_SIGNING_KEYS['7.0']}:\nuid:-::::1661903590::A1B2::MongoDB 7.0 Release Signing Key <packaging@mongodb.com>::::::::::0:\n`;

const isProbe = (argv: readonly string[]): boolean =>
  argv[0] === 'sh' && (argv[2] ?? '').startsWith('command -v mongod');

/** A container without mongod until something installs it; afterwards mongod reports `installed`. */
function container(
  options: {
    osRelease?: string;
    installed?: string;
    keyColons?: string;
    fail?: (argv: readonly string[]) => { exitCode: number; stderr: string } | undefined;
  } = {},
): { ops: FakeOps } {
  let present = false;
  const respond: Responder = (_c, argv) => {
    if (isProbe(argv)) return present ? { stdout: options.installed ?? MONGOD_7 } : { exitCode: 127, stderr: '' };
    const failure = options.fail?.(argv);
    if (failure !== undefined) return failure;
    if (argv[0] === 'cat' && argv[1] === '/etc/os-release') return { stdout: options.osRelease ?? JAMMY };
    if (argv[0] === 'gpg' && argv[1] === '--show-keys') return { stdout: options.keyColons ?? KEY_7_COLONS };
    if (argv.includes('install') && argv.some((a) => a.startsWith('mongodb-org-server'))) present = true;
    if (argv[0] === 'tar') present = true;
    return undefined;
  };
  return { ops: new FakeOps(respond) };
}

describe('parsers', () => {
  it('reads distribution and codename from /etc/os-release', () => {
    expect(parseOsRelease(JAMMY)).toEqual({ id: 'ubuntu', versionCodename: 'jammy' });
    expect(parseOsRelease(BOOKWORM)).toEqual({ id: 'debian', versionCodename: 'bookworm' });
  });

  it('reads the version from mongod --version', () => {
    expect(parseMongodVersion(MONGOD_7)).toBe('7.0.14');
    expect(parseMongodVersion('mongod: error while loading shared libraries: libcurl.so.4')).toBeNull();
  });

  it('takes only primary-key fingerprints from gpg --with-colons', () => {
    const withSubkey = `${KEY_7_COLONS}sub:-:4096:1:AAAA:1:2::::::e::::::23:\nfpr:::::::::1111222233334444555566667777888899990000:\n`;
    expect(fingerprintsOf(withSubkey)).toEqual([MONGODB_SIGNING_KEYS['7.0']]);
  });
});

describe('planRepositoryInstall', () => {
  it('fetches the key over HTTPS, checks its fingerprint, and adds a signed-by source for Ubuntu jammy', () => {
    const steps = planRepositoryInstall({ id: 'ubuntu', versionCodename: 'jammy' }, '7.0');
    expect(steps.map((s) => s.title)).toEqual([
      'refresh the package index',
      'install curl, gnupg and CA certificates',
      "download MongoDB 7.0's signing key",
      "check the signing key's fingerprint",
      'install the signing key as an apt keyring',
      'remove the downloaded key',
      "add MongoDB 7.0's apt repository",
      'refresh the package index with MongoDB',
      'install mongodb-org-server',
      "stop the package's own mongod.service",
    ]);
    const download = steps[2];
    expect(download?.kind === 'exec' && download.argv).toContain('https://www.mongodb.org/static/pgp/server-7.0.asc');
    expect(download?.kind === 'exec' && download.argv.join(' ')).toContain('--proto =https');
    expect(steps[3]).toMatchObject({ kind: 'exec', expectFingerprint: 'E58830201F7DD82CD808AA84160D26BB1785BA38' });
    expect(steps[6]).toMatchObject({
      kind: 'write',
      path: '/etc/apt/sources.list.d/mongodb-org-7.0.list',
      content:
        'deb [ arch=amd64,arm64 signed-by=/usr/share/keyrings/mongodb-server-7.0.gpg ] ' +
        'https://repo.mongodb.org/apt/ubuntu jammy/mongodb-org/7.0 multiverse\n',
      mode: 0o644,
    });
  });

  it('uses the Debian repository layout for bookworm and pins a full version', () => {
    const steps = planRepositoryInstall({ id: 'debian', versionCodename: 'bookworm' }, '7.0.14');
    expect(steps.find((s) => s.kind === 'write')).toMatchObject({
      content:
        'deb [ signed-by=/usr/share/keyrings/mongodb-server-7.0.gpg ] https://repo.mongodb.org/apt/debian ' +
        'bookworm/mongodb-org/7.0 main\n',
    });
    const install = steps.find((s) => s.title.startsWith('install mongodb-org-server'));
    expect(install?.kind === 'exec' && install.argv).toEqual([
      'env',
      'DEBIAN_FRONTEND=noninteractive',
      'apt-get',
      'install',
      '-y',
      '--no-install-recommends',
      'mongodb-org-server=7.0.14',
    ]);
  });

  it('refuses distributions and series it has no repository or key for', () => {
    expect(() => planRepositoryInstall({ id: 'alpine', versionCodename: '' }, '7.0')).toThrow(
      /Ubuntu jammy and Debian bookworm/,
    );
    expect(() => planRepositoryInstall({ id: 'ubuntu', versionCodename: 'jammy' }, '5.0')).toThrow(/signing key/);
  });
});

describe('installMongo', () => {
  it('installs from the repository when mongod is missing, then checks the version', async () => {
    const { ops } = container();
    const result = await installMongo(
      ops,
      'db1',
      { version: '7.0', source: { kind: 'repository' } },
      { topologyDir: '/srv' },
    );

    expect(result).toEqual({ container: 'db1', mongodBin: '/usr/bin/mongod', version: '7.0.14', changed: true });
    const execs = ops.execs('db1');
    expect(isProbe(execs[0] ?? [])).toBe(true);
    expect(execs[1]).toEqual(['cat', '/etc/os-release']);
    expect(execs.some((argv) => argv.includes('https://www.mongodb.org/static/pgp/server-7.0.asc'))).toBe(true);
    expect(isProbe(execs.at(-1) ?? [])).toBe(true);
    expect(ops.writes('db1').map((w) => w.path)).toEqual(['/etc/apt/sources.list.d/mongodb-org-7.0.list']);
  });

  it('does nothing when the right version is already installed', async () => {
    const ops = new FakeOps((_c, argv) => (isProbe(argv) ? { stdout: MONGOD_7 } : undefined));
    const result = await installMongo(
      ops,
      'db1',
      { version: '7.0', source: { kind: 'repository' } },
      { topologyDir: '/srv' },
    );

    expect(result.changed).toBe(false);
    expect(ops.calls).toHaveLength(1);
  });

  it('explains an unreachable repository: container, step, output, and where MongoDB must come from', async () => {
    const { ops } = container({
      fail: (argv) =>
        argv[0] === 'curl' ? { exitCode: 6, stderr: 'curl: (6) Could not resolve host: www.mongodb.org' } : undefined,
    });
    const error = await installMongo(
      ops,
      'db2',
      { version: '7.0', source: { kind: 'repository' } },
      { topologyDir: '/srv' },
    ).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DistctlError);
    const failure = error as DistctlError;
    expect(failure.code).toBe('MONGO_INSTALL_FAILED');
    expect(failure.message).toContain('container db2');
    expect(failure.message).toContain('"download MongoDB 7.0\'s signing key"');
    expect(failure.details).toEqual(['curl: (6) Could not resolve host: www.mongodb.org']);
    expect(failure.hint).toContain('mongodb.source: { archive: ./mongodb-linux-x86_64-');
    expect(failure.hint).toContain('mongodb.source: image');
    // Nothing after the failed step ran.
    expect(ops.execs().some((argv) => argv[0] === 'gpg')).toBe(false);
  });

  it("stops when the downloaded key is not MongoDB's", async () => {
    const { ops: forged } = container({
      keyColons: 'pub:-:4096:1:X:1:::::\nfpr:::::::::0000000000000000000000000000000000000000:\n',
    });
    const error = (await installMongo(
      forged,
      'db1',
      { version: '7.0', source: { kind: 'repository' } },
      { topologyDir: '/srv' },
    ).catch((e: unknown) => e)) as DistctlError;

    expect(error.code).toBe('MONGO_INSTALL_FAILED');
    expect(error.message).toContain("not MongoDB's release signing key");
    expect(forged.execs().some((argv) => argv.includes('--dearmor'))).toBe(false);
    expect(forged.writes()).toEqual([]);
  });

  it("refuses a key file that holds MongoDB's key plus another one: apt would trust both", async () => {
    const extra = 'pub:-:4096:1:Y:1:::::\nfpr:::::::::1111222233334444555566667777888899990000:\n';
    const { ops } = container({ keyColons: `${KEY_7_COLONS}${extra}` });
    const error = (await installMongo(
      ops,
      'db1',
      { version: '7.0', source: { kind: 'repository' } },
      { topologyDir: '/srv' },
    ).catch((e: unknown) => e)) as DistctlError;

    expect(error.code).toBe('MONGO_INSTALL_FAILED');
    expect(error.message).toContain(
      "the downloaded key file holds 2 keys; only MongoDB's release signing key may be in it",
    );
    expect(error.details).toEqual([
      `expected exactly ${MONGODB_SIGNING_KEYS['7.0']}`,
      `got ${MONGODB_SIGNING_KEYS['7.0']}, 1111222233334444555566667777888899990000`,
    ]);
    expect(ops.execs().some((argv) => argv.includes('--dearmor'))).toBe(false);
    expect(ops.writes()).toEqual([]);
  });

  describe('from an archive', () => {
    let dir = '';
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'distctl-archive-'));
      await writeFile(join(dir, 'mongodb-linux-x86_64-ubuntu2204-7.0.14.tgz'), 'not really a tarball');
    });
    afterAll(async () => rm(dir, { recursive: true, force: true }));

    it('pushes the tarball (path relative to topology.yaml) and unpacks mongod into /usr/local/bin', async () => {
      const { ops } = container({ installed: MONGOD_7.replace('/usr/bin/mongod', '/usr/local/bin/mongod') });
      const result = await installMongo(
        ops,
        'db1',
        { version: '7.0', source: { kind: 'archive', path: './mongodb-linux-x86_64-ubuntu2204-7.0.14.tgz' } },
        { topologyDir: dir },
      );

      expect(result.mongodBin).toBe('/usr/local/bin/mongod');
      const apt = ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get'];
      expect(ops.calls.filter((c) => c.kind !== 'exec' || !isProbe(c.argv))).toEqual([
        { kind: 'exec', container: 'db1', argv: [...apt, 'update'] },
        // mongod links libcurl, libcrypto and liblzma, and its config names /usr/share/zoneinfo.
        {
          kind: 'exec',
          container: 'db1',
          argv: [...apt, 'install', '-y', '--no-install-recommends', 'libcurl4', 'openssl', 'liblzma5', 'tzdata'],
        },
        {
          kind: 'push',
          container: 'db1',
          hostPath: join(dir, 'mongodb-linux-x86_64-ubuntu2204-7.0.14.tgz'),
          path: '/tmp/distctl-mongodb-server.tgz',
          mode: 0o600,
        },
        {
          kind: 'exec',
          container: 'db1',
          argv: [
            'tar',
            '-xzf',
            '/tmp/distctl-mongodb-server.tgz',
            '-C',
            '/usr/local/bin',
            '--strip-components=2',
            '--no-same-owner',
            '--wildcards',
            '*/bin/mongod',
          ],
        },
        { kind: 'exec', container: 'db1', argv: ['chmod', '0755', '/usr/local/bin/mongod'] },
        { kind: 'exec', container: 'db1', argv: ['rm', '-f', '/tmp/distctl-mongodb-server.tgz'] },
      ]);
    });

    it('says so when the archive does not exist', async () => {
      const { ops } = container();
      const error = (await installMongo(
        ops,
        'db1',
        { version: '7.0', source: { kind: 'archive', path: 'missing.tgz' } },
        { topologyDir: dir },
      ).catch((e: unknown) => e)) as DistctlError;
      expect(error.code).toBe('MONGO_ARCHIVE_NOT_FOUND');
      expect(error.message).toContain(join(dir, 'missing.tgz'));
    });
  });

  it('rejects a mongod of another series than the topology asks for', async () => {
    const ops = new FakeOps((_c, argv) =>
      isProbe(argv) ? { stdout: '/usr/bin/mongod\ndb version v6.0.16\n' } : undefined,
    );
    const error = (await installMongo(
      ops,
      'db1',
      { version: '7.0', source: { kind: 'image' } },
      { topologyDir: '/srv' },
    ).catch((e: unknown) => e)) as DistctlError;

    expect(error.code).toBe('MONGO_VERSION_MISMATCH');
    expect(error.message).toBe(
      'Container db1 has mongod 6.0.16 (/usr/bin/mongod), but topology.yaml asks for MongoDB 7.0.',
    );
  });

  it('explains an image without mongod', async () => {
    const ops = new FakeOps((_c, argv) => (isProbe(argv) ? { exitCode: 127 } : undefined));
    const error = (await installMongo(
      ops,
      'db3',
      { version: '7.0', source: { kind: 'image' } },
      { topologyDir: '/srv' },
    ).catch((e: unknown) => e)) as DistctlError;

    expect(error.code).toBe('MONGOD_NOT_IN_IMAGE');
    expect(error.message).toContain('db3');
    expect(ops.calls).toHaveLength(1);
  });
});
