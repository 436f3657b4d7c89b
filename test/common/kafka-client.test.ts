import { kafkaSecurity } from '../../src/common/kafka-client';

describe('kafkaSecurity', () => {
  const read = (f: string): string => `PEM of ${f}`;

  it('nothing for a plaintext cluster', () => {
    expect(kafkaSecurity(undefined, undefined, read)).toEqual({});
  });

  it('TLS with PEM files read through the given reader, verification as configured', () => {
    expect(kafkaSecurity({ ca: '/ca.pem', cert: '/c.pem', key: '/k.pem', rejectUnauthorized: true }, undefined, read)).toEqual({
      'security.protocol': 'ssl',
      'enable.ssl.certificate.verification': true,
      'ssl.ca.pem': 'PEM of /ca.pem',
      'ssl.certificate.pem': 'PEM of /c.pem',
      'ssl.key.pem': 'PEM of /k.pem',
    });
  });

  it('a CA directory adds its certificates to the CA file (librdkafka takes them as one PEM bundle)', () => {
    const dir = (d: string): string[] => [`CERT 1 of ${d}`, `CERT 2 of ${d}`];
    expect(kafkaSecurity({ ca: '/ca.pem', caPath: '/cas', rejectUnauthorized: true }, undefined, read, dir)['ssl.ca.pem']).toBe('PEM of /ca.pem\nCERT 1 of /cas\nCERT 2 of /cas');
    expect(kafkaSecurity({ caPath: '/cas', rejectUnauthorized: true }, undefined, read, dir)['ssl.ca.pem']).toBe('CERT 1 of /cas\nCERT 2 of /cas');
  });

  it('SASL over TLS, and SASL alone', () => {
    const sasl = { mechanism: 'SCRAM-SHA-512', username: 'relay', password: 'pw' } as const;
    expect(kafkaSecurity({ rejectUnauthorized: false }, sasl, read)).toEqual({
      'security.protocol': 'sasl_ssl',
      'enable.ssl.certificate.verification': false,
      'sasl.mechanisms': 'SCRAM-SHA-512',
      'sasl.username': 'relay',
      'sasl.password': 'pw',
    });
    expect(kafkaSecurity(undefined, sasl, read)['security.protocol']).toBe('sasl_plaintext');
  });
});
