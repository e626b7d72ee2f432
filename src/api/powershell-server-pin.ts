import { X509Certificate } from 'node:crypto';

/** SHA-256 of a PEM certificate's DER (its first, when a chain follows), in lowercase hex. */
export function certificateSha256(pem: string): string {
  return new X509Certificate(pem).fingerprint256.replaceAll(':', '').toLowerCase();
}

/**
 * PowerShell that makes the session's web requests (Invoke-RestMethod, Invoke-WebRequest)
 * accept only the server whose certificate has this SHA-256, instead of any a system CA
 * vouches for: a generated certificate has no CA, and a pinned one cannot be stood in for
 * by one that has. Windows PowerShell 5.1 checks certificates through
 * ServicePointManager's callback; a compiled one, since a script block may be called on a
 * thread with no runspace. Defining the type twice in one session is skipped, so the user
 * data and the bootstrap it runs can both say it.
 */
export function powershellServerPin(sha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error('not a sha256');
  return `if (-not ('SlipwayServerPin' -as [type])) {
  Add-Type -TypeDefinition @'
using System;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
public static class SlipwayServerPin {
  static string expected;
  public static void Install(string sha256) {
    expected = sha256;
    ServicePointManager.SecurityProtocol |= SecurityProtocolType.Tls12;
    ServicePointManager.ServerCertificateValidationCallback = Check;
  }
  static bool Check(object sender, X509Certificate certificate, X509Chain chain, SslPolicyErrors errors) {
    if (certificate == null) return false;
    using (SHA256 hash = SHA256.Create()) {
      return BitConverter.ToString(hash.ComputeHash(certificate.GetRawCertData())).Replace("-", "").ToLowerInvariant() == expected;
    }
  }
}
'@
}
[SlipwayServerPin]::Install('${sha256}')`;
}
