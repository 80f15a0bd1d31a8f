import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  findSuiteSource,
  parseDeb822Sources,
  parseOneLineSources,
  pickMirror,
  readAptSources,
} from '../../../src/image/index.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

describe('parseDeb822Sources', () => {
  it('reads multi-suite stanzas, skips comments, disabled stanzas and keeps only keyring paths', () => {
    const sources = parseDeb822Sources({
      path: 'x.sources',
      content: [
        'Types: deb deb-src',
        '# comment inside the stanza',
        'URIs: http://a.example.test/debian http://b.example.test/debian',
        'Suites: bookworm bookworm-updates',
        'Components: main contrib',
        'Signed-By: /usr/share/keyrings/k.gpg',
        '',
        'Enabled: no',
        'Types: deb',
        'URIs: http://off.example.test/debian',
        'Suites: bookworm',
        '',
        'types: deb',
        'uris: http://inline.example.test/apt',
        'suites: stable',
        'signed-by:',
        ' -----BEGIN PGP PUBLIC KEY BLOCK-----',
        ' .',
        ' -----END PGP PUBLIC KEY BLOCK-----',
      ].join('\n'),
    });
    expect(sources).toEqual([
      {
        types: ['deb', 'deb-src'],
        uris: ['http://a.example.test/debian', 'http://b.example.test/debian'],
        suites: ['bookworm', 'bookworm-updates'],
        components: ['main', 'contrib'],
        signedBy: '/usr/share/keyrings/k.gpg',
        origin: 'x.sources',
      },
      {
        types: ['deb'],
        uris: ['http://inline.example.test/apt'],
        suites: ['stable'],
        components: [],
        signedBy: undefined,
        origin: 'x.sources',
      },
    ]);
  });
});

describe('parseOneLineSources', () => {
  it('reads options, trailing comments and indented lines', () => {
    const sources = parseOneLineSources({
      path: 'sources.list',
      content:
        '# c\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example.test/debian bookworm main non-free # tail\n  deb-src http://m.example.test/debian bookworm main\n',
    });
    expect(sources).toEqual([
      {
        types: ['deb'],
        uris: ['http://m.example.test/debian'],
        suites: ['bookworm'],
        components: ['main', 'non-free'],
        signedBy: '/k.gpg',
        origin: 'sources.list',
      },
      {
        types: ['deb-src'],
        uris: ['http://m.example.test/debian'],
        suites: ['bookworm'],
        components: ['main'],
        signedBy: undefined,
        origin: 'sources.list',
      },
    ]);
  });
});

describe('readAptSources + pickMirror on sample apt directories', () => {
  it('deb822: picks the stanza naming the suite, not a third-party, source-only or disabled one', async () => {
    const sources = await readAptSources(fixture('apt-deb822'));
    // `.list.disabled` is not a source file; the third-party file sorts first but does not name bookworm for `deb`.
    expect(sources.map((s) => s.uris[0])).toEqual([
      'https://vendor.example.test/apt',
      'http://src-only.example.test/debian',
      'http://mirror.example.test/debian',
      'http://mirror.example.test/debian-security',
    ]);
    expect(pickMirror(sources, 'bookworm')).toEqual({
      uri: 'http://mirror.example.test/debian',
      signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg',
      components: ['main', 'contrib'],
      origin: `${fixture('apt-deb822')}/sources.list.d/debian.sources`,
    });
    expect(findSuiteSource(sources, 'bookworm-security')?.uri).toBe('http://mirror.example.test/debian-security');
  });

  it('falls back to the main Debian archive for a suite the host does not list', async () => {
    const sources = await readAptSources(fixture('apt-deb822'));
    expect(pickMirror(sources, 'trixie')?.uri).toBe('http://mirror.example.test/debian');
    expect(findSuiteSource(sources, 'trixie')).toBeUndefined();
  });

  it('classic sources.list: skips deb-src and keeps the signed-by option', async () => {
    const sources = await readAptSources(fixture('apt-oneline'));
    expect(pickMirror(sources, 'bookworm')).toMatchObject({
      uri: 'http://mirror.example.test/debian',
      signedBy: '/etc/apt/keyrings/local.gpg',
      components: ['main', 'non-free-firmware'],
    });
    expect(findSuiteSource(sources, 'bookworm-security')?.uri).toBe('http://security.example.test/debian-security');
  });

  it('finds nothing when only a third-party repository is configured', async () => {
    const sources = await readAptSources(fixture('apt-thirdparty-only'));
    expect(sources).toHaveLength(1);
    expect(pickMirror(sources, 'bookworm')).toBeUndefined();
  });

  it('treats a missing apt directory as having no sources', async () => {
    expect(await readAptSources(fixture('does-not-exist'))).toEqual([]);
  });
});
