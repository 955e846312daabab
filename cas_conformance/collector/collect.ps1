# cas-conformance collector: every Windows-side fact of one Exchange 2010 server in one run.
# Output: format 2, see docs/collector-format.md. Read-only: it runs Get-* commands only.
#
# Runs on Windows PowerShell 2.0 (Windows Server 2008 R2), so it avoids everything newer:
# ConvertTo-Json, [ordered], [pscustomobject], -in, .ForEach()/.Where(), ::new().
# cas_conformance.collector.script prepends "$CasConf = @{...}" (the parameters) and a bootstrap
# reads the whole text from stdin and runs it as one script block.
#
# Each part runs in its own try/catch: a part that throws becomes an [error] record (its facts are
# unknown) and the others still run. Records are buffered and printed at the very end, between
# the BEGIN and END markers, so banners or warnings PowerShell prints meanwhile stay outside.

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$WarningPreference = 'SilentlyContinue'
$CasInvariant = [Globalization.CultureInfo]::InvariantCulture
$CasStarted = Get-Date
$CasLocal = $env:COMPUTERNAME
$CasRecords = New-Object System.Collections.ArrayList
$CasErrors = New-Object System.Collections.ArrayList
$CasState = @{}

function Get-CasErrorText($ErrorRecord) {
    # PowerShell 2.0 wraps errors made terminating by 'Stop'; report the original message.
    $ex = $ErrorRecord.Exception
    if ($ex -is [System.Management.Automation.ActionPreferenceStopException] -and $null -ne $ex.ErrorRecord) {
        $ex = $ex.ErrorRecord.Exception
    }
    if ($null -eq $ex) { return [string]$ErrorRecord }
    return [string]$ex.Message
}

if ($null -eq $CasConf) {
    [Console]::Error.WriteLine('cas-conformance collector: the $CasConf parameter preamble is missing')
    exit 1
}
# Exchange 2010's snap-in; an Exchange 2013 or later server met during a migration has its own
# (its facts then show the newer version, and the Exchange 2010 checks skip it).
$snapin = 'Microsoft.Exchange.Management.PowerShell.E2010'
try {
    if ($null -eq (Get-PSSnapin -Name $snapin -ErrorAction SilentlyContinue)) {
        Add-PSSnapin -Name $snapin
    }
} catch {
    $reason = Get-CasErrorText $_
    $newer = 'Microsoft.Exchange.Management.PowerShell.SnapIn'
    if ($null -ne (Get-PSSnapin -Registered -Name $newer -ErrorAction SilentlyContinue)) {
        try {
            Add-PSSnapin -Name $newer
            $snapin = $newer
        } catch {
            $reason = Get-CasErrorText $_
            [Console]::Error.WriteLine("cas-conformance collector: cannot load the Exchange snap-in ${newer}: $reason")
            exit 1
        }
    } else {
        [Console]::Error.WriteLine("cas-conformance collector: cannot load the Exchange 2010 snap-in ${snapin}: $reason")
        exit 1
    }
}

# ------------------------------------------------------------------ value encoders

function ConvertTo-CasText($Value) {
    # Percent-encode every UTF-8 byte outside printable ASCII, and '%', ';', '='.
    $text = [string]$Value
    if ($text -cmatch '^[ -$&-:<>-~]*\z') { return $text }
    $sb = New-Object System.Text.StringBuilder
    foreach ($b in [Text.Encoding]::UTF8.GetBytes($text)) {
        if ($b -ge 0x20 -and $b -le 0x7E -and $b -ne 0x25 -and $b -ne 0x3B -and $b -ne 0x3D) {
            [void]$sb.Append([char]$b)
        } else {
            [void]$sb.Append('%')
            [void]$sb.Append($b.ToString('X2'))
        }
    }
    return $sb.ToString()
}

function ConvertTo-CasList($Items) {
    # Items encoded one by one and joined with ';'; empty items are dropped.
    $parts = New-Object System.Collections.ArrayList
    if ($null -ne $Items) {
        foreach ($item in $Items) {
            $text = ([string]$item).Trim()
            if ($text.Length -gt 0) { [void]$parts.Add((ConvertTo-CasText $text)) }
        }
    }
    return ($parts -join ';')
}

function ConvertTo-CasBool($Value) {
    if ($Value) { return 'True' }
    return 'False'
}

function ConvertTo-CasInt($Value) {
    return ([long]$Value).ToString($CasInvariant)
}

function ConvertTo-CasDate($Value) {
    return ([DateTime]$Value).ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", $CasInvariant)
}

function ConvertTo-CasHex($Bytes) {
    if ($null -eq $Bytes) { return '' }
    return [BitConverter]::ToString([byte[]]$Bytes).Replace('-', '').ToLowerInvariant()
}

function Get-CasName($Id) {
    # Short name of an AD object id (Server, MasterServerOrAvailabilityGroup, Members ...).
    if ($null -eq $Id) { return '' }
    if ($Id -is [string]) { return $Id }
    if ($Id.Name) { return [string]$Id.Name }
    return [string]$Id
}

function Get-CasNames($Ids) {
    $names = @()
    if ($null -ne $Ids) {
        foreach ($id in $Ids) { $names += (Get-CasName $id) }
    }
    return $names
}

# ------------------------------------------------------------------ records and parts

function Add-CasRecord($Target, [string]$Section, [object[]]$Pairs) {
    # $Pairs: key, encoded value, key, encoded value ... (hashtables lose their order in 2.0).
    $sb = New-Object System.Text.StringBuilder
    [void]$sb.Append('[' + $Section + "]`n")
    for ($i = 0; $i -lt $Pairs.Length; $i += 2) {
        [void]$sb.Append([string]$Pairs[$i] + '=' + [string]$Pairs[$i + 1] + "`n")
    }
    [void]$Target.Add($sb.ToString())
}

function Invoke-CasPart([string]$Section, [string]$What, [scriptblock]$Body) {
    $out = New-Object System.Collections.ArrayList
    try {
        $null = & $Body $out
    } catch {
        [void]$CasErrors.Add(@($Section, ($What + ': ' + (Get-CasErrorText $_))))
        return
    }
    foreach ($record in $out) { [void]$CasRecords.Add($record) }
}

Add-CasRecord $CasRecords 'meta' @(
    'FormatVersion', '2',
    'ComputerName', (ConvertTo-CasText $CasLocal),
    'PSVersion', (ConvertTo-CasText $PSVersionTable.PSVersion),
    'CollectedAt', (ConvertTo-CasDate $CasStarted),
    'Culture', (ConvertTo-CasText (Get-Culture).Name))

# ------------------------------------------------------------------ organisation

Invoke-CasPart 'server' 'Get-ExchangeServer' {
    param($Out)
    $servers = @(Get-ExchangeServer)
    $CasState['Servers'] = $servers
    foreach ($s in $servers) {
        Add-CasRecord $Out 'server' @(
            'Name', (ConvertTo-CasText $s.Name),
            'Fqdn', (ConvertTo-CasText $s.Fqdn),
            'Site', (ConvertTo-CasText $s.Site),
            'ServerRole', (ConvertTo-CasList ("$($s.ServerRole)" -split ',')),
            'IsClientAccessServer', (ConvertTo-CasBool $s.IsClientAccessServer),
            'IsMailboxServer', (ConvertTo-CasBool $s.IsMailboxServer),
            'AdminDisplayVersion', (ConvertTo-CasText $s.AdminDisplayVersion))
    }
}

Invoke-CasPart 'database' 'Get-MailboxDatabase' {
    param($Out)
    foreach ($d in @(Get-MailboxDatabase)) {
        Add-CasRecord $Out 'database' @(
            'Name', (ConvertTo-CasText $d.Name),
            'Server', (ConvertTo-CasText (Get-CasName $d.Server)),
            'RpcClientAccessServer', (ConvertTo-CasText $d.RpcClientAccessServer),
            'MasterServerOrAvailabilityGroup', (ConvertTo-CasText (Get-CasName $d.MasterServerOrAvailabilityGroup)))
    }
}

Invoke-CasPart 'publicfolderdatabase' 'Get-PublicFolderDatabase' {
    param($Out)
    $pfServers = @()
    foreach ($d in @(Get-PublicFolderDatabase)) {
        $server = Get-CasName $d.Server
        $pfServers += $server
        Add-CasRecord $Out 'publicfolderdatabase' @(
            'Name', (ConvertTo-CasText $d.Name),
            'Server', (ConvertTo-CasText $server))
    }
    $CasState['PublicFolderServers'] = $pfServers
}

Invoke-CasPart 'array' 'Get-ClientAccessArray' {
    param($Out)
    # A bare Get-ClientAccessArray may list only the local AD site: also ask for every site
    # that holds an Exchange server, and drop duplicates.
    $found = @(Get-ClientAccessArray)
    $sites = @{}
    if ($CasState.ContainsKey('Servers')) {
        foreach ($s in $CasState['Servers']) {
            $site = ([string]$s.Site) -replace '^.*/', ''
            if ($site) { $sites[$site] = $true }
        }
    }
    foreach ($site in @($sites.Keys)) { $found += @(Get-ClientAccessArray -Site $site) }
    $seen = @{}
    foreach ($a in $found) {
        $id = [string]$a.Guid
        if ($id -eq '') { $id = [string]$a.Identity }
        if ($seen.ContainsKey($id)) { continue }
        $seen[$id] = $true
        Add-CasRecord $Out 'array' @(
            'Name', (ConvertTo-CasText $a.Name),
            'Fqdn', (ConvertTo-CasText $a.Fqdn),
            'Site', (ConvertTo-CasText $a.Site),
            'Members', (ConvertTo-CasList (Get-CasNames $a.Members)))
    }
}

Invoke-CasPart 'clientaccessserver' 'Get-ClientAccessServer' {
    param($Out)
    foreach ($c in @(Get-ClientAccessServer)) {
        Add-CasRecord $Out 'clientaccessserver' @(
            'Name', (ConvertTo-CasText $c.Name),
            'AutoDiscoverServiceInternalUri', (ConvertTo-CasText $c.AutoDiscoverServiceInternalUri),
            'AutoDiscoverSiteScope', (ConvertTo-CasList $c.AutoDiscoverSiteScope))
    }
}

# ------------------------------------------------------------------ this server

function Get-CasLocalServer {
    # This server's Get-ExchangeServer record; $null when that part failed or did not list it.
    if (-not $CasState.ContainsKey('Servers')) { return $null }
    foreach ($s in $CasState['Servers']) {
        if ($s.Name -eq $CasLocal) { return $s }
    }
    return $null
}

function Test-CasClientAccess {
    # Client Access role, or roles unknown: then ask anyway and let an error record say why.
    $s = Get-CasLocalServer
    return ($null -eq $s -or [bool]$s.IsClientAccessServer)
}

function Test-CasRpcClientAccessWanted {
    # RPC Client Access settings matter on CAS servers and on public-folder servers, which
    # answer Outlook's public-folder logons themselves.
    if (Test-CasClientAccess) { return $true }
    if (-not $CasState.ContainsKey('PublicFolderServers')) { return $true }
    return ($CasState['PublicFolderServers'] -contains $CasLocal)
}

Invoke-CasPart 'rpcclientaccess' 'Get-RpcClientAccess' {
    param($Out)
    if (-not (Test-CasRpcClientAccessWanted)) { return }
    $rpc = @(Get-RpcClientAccess -Server $CasLocal)
    if ($rpc.Count -gt 0) {
        Add-CasRecord $Out 'rpcclientaccess' @(
            'Server', (ConvertTo-CasText (Get-CasName $rpc[0].Server)),
            'EncryptionRequired', (ConvertTo-CasBool $rpc[0].EncryptionRequired))
    }
}

function Format-CasRegistryValue($Raw, [string]$Kind) {
    if ($Kind -eq 'DWord') {
        return [BitConverter]::ToUInt32([BitConverter]::GetBytes([int]$Raw), 0).ToString($CasInvariant)
    }
    if ($Kind -eq 'QWord') {
        return [BitConverter]::ToUInt64([BitConverter]::GetBytes([long]$Raw), 0).ToString($CasInvariant)
    }
    if ($Kind -eq 'Binary') { return (ConvertTo-CasHex $Raw) }
    if ($Kind -eq 'MultiString') { return (@($Raw) -join "`n") }
    return [string]$Raw
}

function Add-CasRegistryRecord($Out, [string]$Key, [string]$Name) {
    $present = $false
    $value = ''
    $kind = ''
    if (Test-Path -LiteralPath $Key) {
        $item = Get-Item -LiteralPath $Key
        if (@($item.GetValueNames()) -contains $Name) {
            $present = $true
            $kind = [string]$item.GetValueKind($Name)
            $raw = $item.GetValue($Name, $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
            $value = Format-CasRegistryValue $raw $kind
        }
    }
    Add-CasRecord $Out 'registry' @(
        'Key', (ConvertTo-CasText $Key),
        'Name', (ConvertTo-CasText $Name),
        'Present', (ConvertTo-CasBool $present),
        'Value', (ConvertTo-CasText $value),
        'Kind', (ConvertTo-CasText $kind))
}

Invoke-CasPart 'registry' 'EnablePushNotifications' {
    param($Out)
    Add-CasRegistryRecord $Out 'HKLM:\SYSTEM\CurrentControlSet\Services\MSExchangeRPC\ParametersSystem' 'EnablePushNotifications'
}

Invoke-CasPart 'registry' 'Maximum Polling Frequency' {
    param($Out)
    Add-CasRegistryRecord $Out ([string]$CasConf.PollingRegistryKey) 'Maximum Polling Frequency'
}

Invoke-CasPart 'service' 'Win32_Service MSExchangeRPC' {
    param($Out)
    $svc = @(Get-WmiObject -Class Win32_Service -Filter "Name='MSExchangeRPC'")
    if ($svc.Count -eq 0) {
        Add-CasRecord $Out 'service' @('Name', 'MSExchangeRPC', 'Present', 'False', 'State', '', 'StartMode', '')
    } else {
        Add-CasRecord $Out 'service' @(
            'Name', (ConvertTo-CasText $svc[0].Name),
            'Present', 'True',
            'State', (ConvertTo-CasText $svc[0].State),
            'StartMode', (ConvertTo-CasText $svc[0].StartMode))
    }
}

Invoke-CasPart 'perfcounter' 'PerformanceCounterCategory' {
    param($Out)
    # RPC-01: the RPC Client Access counters Event 106 says are missing (a .NET 2.0 API).
    $category = 'MSExchange RpcClientAccess'
    Add-CasRecord $Out 'perfcounter' @(
        'CategoryName', (ConvertTo-CasText $category),
        'Exists', (ConvertTo-CasBool ([Diagnostics.PerformanceCounterCategory]::Exists($category))))
}

function Get-CasErrorId($ErrorRecord) {
    # The FullyQualifiedErrorId of the original error (PowerShell 2.0 wraps it under 'Stop').
    $ex = $ErrorRecord.Exception
    if ($ex -is [System.Management.Automation.ActionPreferenceStopException] -and $null -ne $ex.ErrorRecord) {
        return [string]$ex.ErrorRecord.FullyQualifiedErrorId
    }
    return [string]$ErrorRecord.FullyQualifiedErrorId
}

Invoke-CasPart 'event' 'Get-WinEvent Application' {
    param($Out)
    $source = [string]$CasConf.EventSource
    # Filtered by the event log service (provider, id, time), not by walking the whole log.
    $filter = @{
        LogName = 'Application'
        ProviderName = $source
        Id = [int]$CasConf.EventId
        StartTime = (Get-Date).AddDays(-1 * [int]$CasConf.EventLookbackDays)
    }
    # "No events were found" (NoMatchingEventsFound) is a normal, empty answer; any other error is not.
    $entries = @()
    try {
        $entries = @(Get-WinEvent -FilterHashtable $filter -ErrorAction Stop)
    } catch {
        if ((Get-CasErrorId $_) -notlike 'NoMatchingEventsFound*') { throw }
    }
    $count = 0
    foreach ($entry in $entries) {
        if ($count -ge [int]$CasConf.MaxEvents) { break }
        $eventId = ([int]$entry.Id) -band 0xFFFF
        if ($eventId -ne [int]$CasConf.EventId) { continue }
        if ([string]$entry.ProviderName -ne $source) { continue }
        $message = [string]$entry.Message
        if ($message -eq '') {
            # No message text rendered (no message resources for this culture, seen in the field):
            # the insertion strings still hold the counter and category names, one per line.
            $message = (@($entry.Properties | ForEach-Object { [string]$_.Value }) -join "`n")
        }
        if (-not ($message -match [string]$CasConf.EventMessagePattern)) { continue }
        $count++
        Add-CasRecord $Out 'event' @(
            'EventId', (ConvertTo-CasInt $eventId),
            'Source', (ConvertTo-CasText $entry.ProviderName),
            'TimeGenerated', (ConvertTo-CasDate $entry.TimeCreated),
            'Message', (ConvertTo-CasText $message))
    }
}

function Add-CasVdirRecords($Out, [string]$Kind, $Vdirs) {
    foreach ($v in $Vdirs) {
        Add-CasRecord $Out 'vdir' @(
            'Kind', $Kind,
            'Identity', (ConvertTo-CasText $v.Identity),
            'Server', (ConvertTo-CasText (Get-CasName $v.Server)),
            'InternalUrl', (ConvertTo-CasText $v.InternalUrl),
            'ExternalUrl', (ConvertTo-CasText $v.ExternalUrl),
            'FailbackUrl', (ConvertTo-CasText $v.FailbackUrl),
            'InternalAuthenticationMethods', (ConvertTo-CasList $v.InternalAuthenticationMethods),
            'ExternalAuthenticationMethods', (ConvertTo-CasList $v.ExternalAuthenticationMethods))
    }
}

# Only Client Access servers have virtual directories and Outlook Anywhere.
$CasVdirCmdlets = @(
    ('owa', 'Get-OwaVirtualDirectory'),
    ('ecp', 'Get-EcpVirtualDirectory'),
    ('ews', 'Get-WebServicesVirtualDirectory'),
    ('activesync', 'Get-ActiveSyncVirtualDirectory'),
    ('oab', 'Get-OabVirtualDirectory'),
    ('autodiscover', 'Get-AutodiscoverVirtualDirectory'))
if (Test-CasClientAccess) {
    foreach ($CasVdir in $CasVdirCmdlets) {
        Invoke-CasPart 'vdir' $CasVdir[1] {
            param($Out)
            Add-CasVdirRecords $Out $CasVdir[0] @(& $CasVdir[1] -Server $CasLocal -ADPropertiesOnly)
        }
    }
    Invoke-CasPart 'outlookanywhere' 'Get-OutlookAnywhere' {
        param($Out)
        foreach ($o in @(Get-OutlookAnywhere -Server $CasLocal)) {
            Add-CasRecord $Out 'outlookanywhere' @(
                'Identity', (ConvertTo-CasText $o.Identity),
                'Server', (ConvertTo-CasText (Get-CasName $o.Server)),
                'ExternalHostname', (ConvertTo-CasText $o.ExternalHostname),
                'ClientAuthenticationMethod', (ConvertTo-CasText $o.ClientAuthenticationMethod),
                'IISAuthenticationMethods', (ConvertTo-CasList $o.IISAuthenticationMethods),
                'SSLOffloading', (ConvertTo-CasBool $o.SSLOffloading))
        }
    }
}

Invoke-CasPart 'winhttp' 'WinHTTP proxy' {
    param($Out)
    # The registry bytes are authoritative (not localised); netsh's text is reported beside them.
    $key = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections'
    $hex = ''
    if (Test-Path -LiteralPath $key) {
        $item = Get-Item -LiteralPath $key
        if (@($item.GetValueNames()) -contains 'WinHttpSettings') {
            $hex = ConvertTo-CasHex ([byte[]]$item.GetValue('WinHttpSettings'))
        }
    }
    $netsh = Join-Path $env:SystemRoot 'System32\netsh.exe'
    $lines = @(& $netsh winhttp show proxy)
    if ($LASTEXITCODE -ne 0) { throw ('netsh winhttp show proxy exited with code ' + $LASTEXITCODE) }
    Add-CasRecord $Out 'winhttp' @(
        'RegistryHex', $hex,
        'NetshText', (ConvertTo-CasText (($lines -join "`n").Trim())))
}

Invoke-CasPart 'certificate' 'Get-ExchangeCertificate' {
    param($Out)
    foreach ($c in @(Get-ExchangeCertificate -Server $CasLocal)) {
        $status = [string]$c.Status
        if ($status -eq '') { $status = 'Unknown' }
        Add-CasRecord $Out 'certificate' @(
            'Thumbprint', (ConvertTo-CasText $c.Thumbprint),
            'Subject', (ConvertTo-CasText $c.Subject),
            'Issuer', (ConvertTo-CasText $c.Issuer),
            'CertificateDomains', (ConvertTo-CasList $c.CertificateDomains),
            'Services', (ConvertTo-CasList ("$($c.Services)" -split ',')),
            'Status', (ConvertTo-CasText $status),
            'NotBefore', (ConvertTo-CasDate $c.NotBefore),
            'NotAfter', (ConvertTo-CasDate $c.NotAfter),
            'IsSelfSigned', (ConvertTo-CasBool $c.IsSelfSigned),
            'PublicKeySize', (ConvertTo-CasInt $c.PublicKeySize))
    }
}

# ------------------------------------------------------------------ output

foreach ($e in $CasErrors) {
    Add-CasRecord $CasRecords 'error' @('Section', (ConvertTo-CasText $e[0]), 'Message', (ConvertTo-CasText $e[1]))
}
$CasText = New-Object System.Text.StringBuilder
[void]$CasText.Append("#CASCONF BEGIN 2`n")
foreach ($record in $CasRecords) { [void]$CasText.Append($record) }
[void]$CasText.Append('#CASCONF END 2 records=' + $CasRecords.Count.ToString($CasInvariant) + "`n")
[Console]::Out.Write($CasText.ToString())
[Console]::Out.Flush()
exit 0
