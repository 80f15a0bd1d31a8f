import { describe, expect, it } from 'vitest';
import { renderTemplate, renderTemplateText } from '../../../src/mongo/render.js';

describe('renderTemplateText', () => {
  it('substitutes variables and keeps or drops whole-line sections without leaving blank lines', () => {
    const text = 'a: {{a}}\n{{#on}}\nb: {{b}}\n{{/on}}\n{{#off}}\nc: 1\n{{/off}}\nend\n';
    expect(renderTemplateText(text, { a: 'x', b: 2, on: true, off: false })).toBe('a: x\nb: 2\nend\n');
  });

  it('supports inline sections', () => {
    expect(renderTemplateText('x{{#on}}-y{{/on}}{{#off}}-z{{/off}}', { on: true, off: false })).toBe('x-y');
  });

  it('refuses a variable that was not provided rather than rendering it empty', () => {
    expect(() => renderTemplateText('port: {{port}}', {}, 'mongod.conf')).toThrow(
      'Template mongod.conf uses {{port}}, which was not provided.',
    );
  });

  it('refuses a section whose value is not a boolean', () => {
    expect(() => renderTemplateText('{{#name}}x{{/name}}', { name: 'rsA' })).toThrow(/not true\/false/);
  });

  it('reads templates from the repository templates/ directory', async () => {
    const unit = await renderTemplate('mongod.service', {
      role: 'standalone',
      port: 27017,
      mongodBin: '/usr/bin/mongod',
      configPath: '/etc/mongod-27017.conf',
      glibcTunables: false,
      writablePaths: '/var/lib/mongo1',
    });
    expect(unit).toContain('ExecStart=/usr/bin/mongod --config /etc/mongod-27017.conf\n');
  });
});
