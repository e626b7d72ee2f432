import { agentNodeMajor } from '../providers/agent-bundle.ts';
import { certificateSha256, powershellServerPin } from './powershell-server-pin.ts';
import type { ServerTrust } from './worker-url.ts';

/** What the served script pins: checksums of the files it fetches. */
export interface PowerShellBootstrapInputs {
  agentSha256: string;
  /** The coordinator's node.exe for Windows; without one the host's own node is used. */
  nodeSha256?: string;
  /** An HTTPS coordinator's certificate: downloads pin it, the agent trusts it alone. */
  trust?: ServerTrust;
}

const pemPattern = /^[-A-Za-z0-9+/= \n]+$/;

/**
 * A Windows PowerShell (5.1 and later) script that brings a Windows host to a running
 * agent: the agent bundle is fetched, checked against the sum written in here and cached
 * under it; node is the coordinator's node.exe (checked the same way) when it serves one,
 * else the host's own. Pipeline scripts run with bash, so Git for Windows' bash is required.
 * Everything the caller chooses comes from the environment, never pasted into the text;
 * what is pasted is checked to be hex first. It fails by throwing, so user data that
 * runs it with Invoke-Expression still reaches its `finally`.
 */
export function powershellBootstrapScript(inputs: PowerShellBootstrapInputs): string {
  for (const sum of [inputs.agentSha256, inputs.nodeSha256 ?? '0'.repeat(64)]) if (!/^[0-9a-f]{64}$/.test(sum)) throw new Error('not a sha256');
  const certificate = inputs.trust?.certificate.trim();
  if (certificate !== undefined && !pemPattern.test(certificate)) throw new Error('not a PEM certificate');
  return `# Slipway agent bootstrap for Windows, served by the coordinator. It reads:
#   SLIPWAY_SERVER              the coordinator's URL (required)
#   SLIPWAY_REGISTRATION_TOKEN  this worker's one-time token (required)
#   SLIPWAY_WORKER              the worker's id, naming its directory (required)
#   SLIPWAY_ROOT                where runtimes and workers live (default %ProgramData%\\Slipway)
#   SLIPWAY_ALLOW_PLAIN_HTTP    "1": an http:// coordinator on another machine is accepted
# The host needs bash (Git for Windows), and Node ${agentNodeMajor} or newer on the PATH unless
# the coordinator serves node.exe ([providers.ec2] windows_node in its config).
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$agentSha256 = '${inputs.agentSha256}'
$nodeSha256 = '${inputs.nodeSha256 ?? ''}'
$nodeMajor = ${agentNodeMajor}

function Say([string]$message) { [Console]::Error.WriteLine("slipway bootstrap: $message") }
function Fail([string]$message) { throw "slipway bootstrap: $message" }

foreach ($name in 'SLIPWAY_SERVER', 'SLIPWAY_REGISTRATION_TOKEN', 'SLIPWAY_WORKER') {
  if (-not [Environment]::GetEnvironmentVariable($name)) { Fail "$name is not set" }
}
if ($env:SLIPWAY_WORKER -cnotmatch '^w-[0-9a-z-]+$') { Fail 'SLIPWAY_WORKER is not a worker id' }
$serverUri = [Uri]$env:SLIPWAY_SERVER
if ($serverUri.Scheme -eq 'http' -and -not $serverUri.IsLoopback -and $env:SLIPWAY_ALLOW_PLAIN_HTTP -ne '1') {
  Fail "refusing plain HTTP to a coordinator on another machine ($env:SLIPWAY_SERVER): the token would cross the network in clear (SLIPWAY_ALLOW_PLAIN_HTTP=1, [server] plain_http_workers, to allow it)"
}
${certificate ? `# The coordinator's certificate: downloads reach only the server holding it, and the agent trusts it alone.
$serverCertificate = '${certificate}'
${powershellServerPin(certificateSha256(certificate))}
` : ''}$root = if ($env:SLIPWAY_ROOT) { $env:SLIPWAY_ROOT } else { Join-Path $env:ProgramData 'Slipway' }
$runtime = Join-Path $root 'runtime'
$workDir = Join-Path $root $env:SLIPWAY_WORKER
New-Item -ItemType Directory -Force -Path $runtime, $workDir | Out-Null

# The token goes in a request header, never on a command line, and leaves the environment
# before anything starts: every process started from here would inherit it.
$token = $env:SLIPWAY_REGISTRATION_TOKEN
Remove-Item -LiteralPath Env:SLIPWAY_REGISTRATION_TOKEN
$headers = @{ Authorization = "Bearer $token" }

# A file is kept under its checksum only once it matched, so one found there is good.
function Get-Checked([string]$file, [string]$sha256, [string]$path) {
  if (Test-Path -LiteralPath $path) { return }
  $part = "$path.part.$PID"
  try {
    Invoke-WebRequest -UseBasicParsing -Headers $headers -Uri "$env:SLIPWAY_SERVER/api/v1/agent/$file" -OutFile $part
  } catch {
    Remove-Item -LiteralPath $part -Force -ErrorAction SilentlyContinue
    Fail "could not download $file from \${env:SLIPWAY_SERVER}: $($_.Exception.Message)"
  }
  $got = (Get-FileHash -Algorithm SHA256 -LiteralPath $part).Hash.ToLowerInvariant()
  if ($got -ne $sha256) {
    Remove-Item -LiteralPath $part -Force
    Fail "checksum mismatch for \${file}: expected $sha256, got $got"
  }
  try {
    Move-Item -LiteralPath $part -Destination $path
  } catch {
    # Another bootstrap on this host cached it first: theirs is as good.
    Remove-Item -LiteralPath $part -Force -ErrorAction SilentlyContinue
    if (-not (Test-Path -LiteralPath $path)) { throw }
  }
}

$agent = Join-Path $runtime "slipway-agent-$agentSha256.mjs"
Get-Checked 'slipway-agent.mjs' $agentSha256 $agent

if ($nodeSha256) {
  $node = Join-Path $runtime "node-$nodeSha256.exe"
  Get-Checked 'node.exe' $nodeSha256 $node
} else {
  $found = Get-Command node.exe -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
  if (-not $found) {
    Fail "no node: the coordinator serves no node.exe and there is none on the PATH. Set [providers.ec2] windows_node in the coordinator's config to a Windows node.exe, or use an image with Node $nodeMajor or newer on the PATH"
  }
  $node = $found.Source
}
$version = & $node --version
if ($version -notmatch '^v(\\d+)\\.' -or [int]$Matches[1] -lt $nodeMajor) {
  Fail "$node is node $version; the agent needs Node $nodeMajor or newer"
}

# Pipeline scripts run with bash -eo pipefail. Git for Windows' bash is preferred where its
# installer puts it, before WSL's bash.exe in System32, which would run them in Linux.
$gitBin = Join-Path $env:ProgramFiles 'Git\\bin'
if (Test-Path -LiteralPath (Join-Path $gitBin 'bash.exe')) { $env:PATH = "$gitBin;$env:PATH" }
$bash = Get-Command bash.exe -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
if (-not $bash) {
  Fail "bash is not on the PATH: pipeline scripts run with bash -eo pipefail. Install Git for Windows on the image (its bash.exe goes in $gitBin)"
}
if ($bash.Source -like "$env:SystemRoot\\*") {
  Fail "the bash on the PATH is $($bash.Source), WSL's; install Git for Windows on the image (its bash.exe goes in $gitBin)"
}

$env:SLIPWAY_WORK_DIR = $workDir
${certificate ? '$env:SLIPWAY_SERVER_CERTIFICATE = $serverCertificate\n' : ''}if (-not $env:SLIPWAY_MACHINE) { $env:SLIPWAY_MACHINE = $workDir }
Set-Location -LiteralPath $workDir
Say "starting the agent with $node and $($bash.Source)"
# The agent reads its token on stdin.
$token | & $node $agent
if ($LASTEXITCODE -ne 0) { Fail "the agent exited with code $LASTEXITCODE" }
`;
}
