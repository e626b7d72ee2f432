import { describe, expect, it } from 'vitest';
import { checkedBootValues, encodedUserData, linuxUserData, windowsUserData } from '../../../src/providers/ec2/user-data.ts';
import { decodedUserData } from './aws-fixtures.ts';

const token = 'Abc_def-0123456789xyzXYZ0123456789abcdefghij';

describe('user data', () => {
  it('Linux: sets the server and token, pipes the bootstrap to sh with the token as bearer, then powers off', () => {
    const script = linuxUserData({ serverUrl: 'https://ci.example.com:7070/', registrationToken: token });
    expect(script.startsWith('#!/bin/sh\n')).toBe(true);
    expect(script).toContain(`SLIPWAY_SERVER='https://ci.example.com:7070'\n`);
    expect(script).toContain(`SLIPWAY_REGISTRATION_TOKEN='${token}'\n`);
    expect(script).toContain('export SLIPWAY_SERVER SLIPWAY_REGISTRATION_TOKEN');
    expect(script).toMatch(/curl -fsS .*"\$SLIPWAY_SERVER\/api\/v1\/agent\/bootstrap\.sh" -H "authorization: Bearer \$SLIPWAY_REGISTRATION_TOKEN" \| sh\n/);
    expect(script.trimEnd().endsWith('shutdown -h now')).toBe(true);
  });

  it('Windows: a <powershell> block that does the same and stops the computer however the agent ends', () => {
    const script = windowsUserData({ serverUrl: 'http://10.0.0.5:7070', registrationToken: token });
    expect(script.startsWith('<powershell>\n')).toBe(true);
    expect(script.trimEnd().endsWith('</powershell>')).toBe(true);
    expect(script).toContain(`$env:SLIPWAY_SERVER = 'http://10.0.0.5:7070'`);
    expect(script).toContain(`$env:SLIPWAY_REGISTRATION_TOKEN = '${token}'`);
    expect(script).toContain('Authorization = "Bearer $env:SLIPWAY_REGISTRATION_TOKEN"');
    expect(script).toMatch(/finally \{\n\s+Stop-Computer -Force\n\}/);
  });

  it('encodes as base64 for the platform', () => {
    expect(decodedUserData(encodedUserData('linux', { serverUrl: 'http://h', registrationToken: token }))).toMatch(/^#!\/bin\/sh/);
    expect(decodedUserData(encodedUserData('windows', { serverUrl: 'http://h', registrationToken: token }))).toMatch(/^<powershell>/);
  });

  it.each([
    "http://h'; rm -rf / #",
    'http://h/$(id)',
    'http://h`id`',
    'ftp://h',
    'http://h path',
    'http://-h',
    'http://h\nshutdown',
    '',
  ])('refuses the server URL %j', (serverUrl) => {
    expect(() => checkedBootValues({ serverUrl, registrationToken: token })).toThrow(/server URL/);
  });

  it.each(["abc'def0123456789abc", 'short', 'a'.repeat(129), 'abc def 0123456789abc', 'abc$def0123456789abc'])('refuses the token %j', (registrationToken) => {
    expect(() => checkedBootValues({ serverUrl: 'http://h', registrationToken })).toThrow(/registration token/);
  });

  it('accepts IPv6 hosts and paths', () => {
    expect(checkedBootValues({ serverUrl: 'http://[fd00::1]:7070/slipway', registrationToken: token }).serverUrl).toBe('http://[fd00::1]:7070/slipway');
  });
});
