r"""What is installed on a believable enterprise endpoint: binaries, packages, autoruns, drivers.

Everything here is static data plus the few functions that turn it into concrete, hashed
binaries. Hashes are derived from the binary's path template and version, never random, so
the same ``chrome.exe`` 131.0.6778.86 has the same sha256 on every endpoint of every fleet:
stacking (count endpoints per hash / autorun, rarest first) only works if that holds.

Paths are written here in their natural case (they appear that way in command lines) and
lower-cased where they become ``lstr`` columns. A per-user path holds the placeholder
`USER` (and a user name `DOM`), which `benign` resolves per endpoint.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

USER = "%user%"  # the endpoint's primary user, in paths and account names
DOM = "%dom%"  # the NetBIOS domain, in account names

OS_VERSION = "os"  # a Binary version that follows the endpoint's OS build (inbox files)

# File headers (first bytes, lower-case hex) the detections and tests talk about.
HEADER_7Z = "377abcaf271c"
HEADER_ZIP = "504b0304"
HEADER_RAR = "526172211a07"
HEADER_PE = "4d5a90000300000004000000ffff0000"
HEADER_PDF = "255044462d312e370a25e2e3cfd30a31"
HEADER_PNG = "89504e470d0a1a0a0000000d49484452"
HEADER_OLE = "d0cf11e0a1b11ae10000000000000000"
# Office Open XML documents are ZIP containers: their header is a real `HEADER_ZIP`. The
# generator writes them to users' folders; a rule looking for archives in user paths must
# exclude these extensions (or it fires on every saved spreadsheet).
OOXML_EXTENSIONS = frozenset(
    {"docx", "docm", "dotx", "xlsx", "xlsm", "xltx", "pptx", "pptm", "potx", "vsdx"}
)
OOXML_HEADER = "504b0304140006000800000021"  # + 3 bytes that vary (CRC of [Content_Types])
ARCHIVE_HEADERS = (HEADER_7Z, HEADER_ZIP, HEADER_RAR, "1f8b08")
# Script extensions the "script in a user-writable path" detection looks at.
SCRIPT_EXTENSIONS = frozenset({"ps1", "vbs", "js", "jse", "wsf", "hta", "bat", "cmd", "vbe"})


def basename(path: str) -> str:
    """The last component of a Windows or POSIX path."""
    return path.replace("/", "\\").rsplit("\\", 1)[-1]


def digest(algorithm: str, text: str) -> str:
    """A stable lower-case hex digest of ``text`` (never Python's salted ``hash``)."""
    return hashlib.new(algorithm, f"stopclock-datagen|{text}".encode()).hexdigest()


def stable_fraction(*parts: str) -> float:
    """A number in [0, 1) fixed by ``parts``: cheap, seedless per-endpoint variety."""
    return zlib.crc32("|".join(parts).encode()) / 2**32


@dataclass(frozen=True, slots=True)
class BinaryDef:
    """A binary as a vendor ships it; ``versions`` are the builds seen in the wild.

    The first version is the most common; ``path`` may contain ``{v}`` when the install
    folder carries the version (Defender platform, Slack, new Teams).
    """

    key: str
    path: str
    versions: tuple[str, ...]
    company: str = ""
    product: str = ""
    description: str = ""
    signer: str | None = None
    original_file_name: str | None = None
    pe: bool = True  # PE metadata and imphash only exist on Windows executables


@dataclass(frozen=True, slots=True, eq=False)
class Binary:
    """One concrete build: normalised path, version and the hashes derived from them.

    Compared and hashed by identity: `binary` hands out one instance per build, and the
    record caches key on it, so a lookup must not hash eight strings.
    """

    key: str
    display_path: str  # natural case, for command lines
    path: str  # lower-case, for lstr columns
    name: str
    version: str
    md5: str
    sha1: str
    sha256: str
    fields: Mapping[str, str]  # the columns a record about this image carries


# -- binaries ------------------------------------------------------------------------------

_SYS32 = r"C:\Windows\System32"
_MS = "Microsoft Corporation"
_MSWIN = "Microsoft Windows"  # Authenticode subject of inbox files
_MSOS = "Microsoft® Windows® Operating System"
_OFFICE_VERSIONS = ("16.0.18129.20158", "16.0.18227.20162", "16.0.17928.20216")
_DEFENDER = r"C:\ProgramData\Microsoft\Windows Defender\Platform\{v}-0"
_DEFENDER_VERSIONS = ("4.18.24090.11", "4.18.24080.9")
_APPLE = "Software Signing"
_ADOBE_ARM = r"C:\Program Files (x86)\Common Files\Adobe\ARM\1.0"


def _inbox(key: str, path: str, description: str, original: str | None = None) -> BinaryDef:
    """A file shipped with Windows (``path`` relative to System32 unless it has a drive):
    its version, and so its hash, follows the OS build."""
    if not path.startswith("C:"):
        path = rf"{_SYS32}\{path}"
    return BinaryDef(key, path, (OS_VERSION,), _MS, _MSOS, description, _MSWIN, original)


def _mac(
    key: str, path: str, signer: str = _APPLE, versions: tuple[str, ...] = (OS_VERSION,)
) -> BinaryDef:
    """A macOS binary; Apple's own follow the OS build, like Windows inbox files."""
    return BinaryDef(key, path, versions, signer=signer, pe=False)


def _linux(key: str, path: str, versions: tuple[str, ...] = ("1",)) -> BinaryDef:
    return BinaryDef(key, path, versions, pe=False)


_DEFS: tuple[BinaryDef, ...] = (
    # Windows, inbox
    _inbox("smss", "smss.exe", "Windows Session Manager"),
    _inbox("csrss", "csrss.exe", "Client Server Runtime Process"),
    _inbox("wininit", "wininit.exe", "Windows Start-Up Application"),
    _inbox("winlogon", "winlogon.exe", "Windows Logon Application"),
    _inbox("services", "services.exe", "Services and Controller app"),
    _inbox("lsass", "lsass.exe", "Local Security Authority Process"),
    _inbox("svchost", "svchost.exe", "Host Process for Windows Services"),
    _inbox("spoolsv", "spoolsv.exe", "Spooler SubSystem App"),
    _inbox("dwm", "dwm.exe", "Desktop Window Manager"),
    _inbox("sihost", "sihost.exe", "Shell Infrastructure Host"),
    _inbox("taskhostw", "taskhostw.exe", "Host Process for Windows Tasks"),
    _inbox("runtimebroker", "RuntimeBroker.exe", "Runtime Broker"),
    _inbox("searchindexer", "SearchIndexer.exe", "Microsoft Windows Search Indexer"),
    _inbox("searchprotocolhost", "SearchProtocolHost.exe",
           "Microsoft Windows Search Protocol Host"),
    _inbox("backgroundtaskhost", "backgroundTaskHost.exe", "Background Task Host"),
    _inbox("dllhost", "dllhost.exe", "COM Surrogate"),
    _inbox("smartscreen", "smartscreen.exe", "Windows Defender SmartScreen"),
    _inbox("ctfmon", "ctfmon.exe", "CTF Loader"),
    _inbox("conhost", "conhost.exe", "Console Window Host"),
    _inbox("securityhealthsystray", "SecurityHealthSystray.exe",
           "Windows Security notification icon"),
    _inbox("explorer", r"C:\Windows\explorer.exe", "Windows Explorer"),
    _inbox("cmd", "cmd.exe", "Windows Command Processor", "Cmd.Exe"),
    _inbox("powershell", r"WindowsPowerShell\v1.0\powershell.exe", "Windows PowerShell",
           "PowerShell.EXE"),
    _inbox("wscript", "wscript.exe", "Microsoft ® Windows Based Script Host", "wscript.exe"),
    _inbox("net", "net.exe", "Net Command", "net.exe"),
    _inbox("net1", "net1.exe", "Net Command", "net1.exe"),
    _inbox("whoami", "whoami.exe", "whoami - displays logged on user information", "whoami.exe"),
    _inbox("schtasks", "schtasks.exe", "Task Scheduler Configuration Tool", "schtasks.exe"),
    _inbox("wmic", r"wbem\WMIC.exe", "WMI Commandline Utility", "wmic.exe"),
    _inbox("wmiprvse", r"wbem\WmiPrvSE.exe", "WMI Provider Host", "Wmiprvse.exe"),
    _inbox("w3wp", r"inetsrv\w3wp.exe", "IIS Worker Process", "w3wp.exe"),
    _inbox("dns", "dns.exe", "Domain Name System (DNS) Server"),
    _inbox("dfsrs", "dfsrs.exe", "Distributed File System Replication"),
    _inbox("ismserv", "ismserv.exe", "Intersite messaging service"),
    _inbox("defrag", "defrag.exe", "Disk Defragmenter Module"),
    _inbox("sc", "sc.exe", "Service Control Manager Configuration Tool"),
    _inbox("drv_ntfs", r"drivers\Ntfs.sys", "NT File System Driver"),
    _inbox("drv_tcpip", r"drivers\tcpip.sys", "TCP/IP Driver"),
    _inbox("drv_ndis", r"drivers\ndis.sys", "Network Driver Interface Specification (NDIS)"),
    _inbox("drv_volmgr", r"drivers\volmgr.sys", "Volume Manager Driver"),
    _inbox("drv_disk", r"drivers\disk.sys", "PnP Disk Driver"),
    _inbox("drv_storahci", r"drivers\storahci.sys", "MS Standard SATA AHCI Driver"),
    _inbox("drv_wdfilter", r"drivers\wd\WdFilter.sys",
           "Microsoft antimalware file system filter driver"),
    _inbox("drv_mrxsmb", r"drivers\mrxsmb.sys", "Windows NT SMB Minirdr"),
    _inbox("drv_srv2", r"drivers\srv2.sys", "Smb 2.0 Server driver"),
    _inbox("drv_dfsr", r"drivers\dfsrro.sys", "DFS Replication Read-only Driver"),
    BinaryDef("drv_vmxnet3", rf"{_SYS32}\drivers\vmxnet3.sys", ("1.9.17.0",), "VMware, Inc.",
              "VMware vmxnet3 Ethernet Adapter", "VMware vmxnet3 NDIS 6 Ethernet Adapter Driver",
              "VMware, Inc."),
    BinaryDef("drv_e1d", rf"{_SYS32}\drivers\e1d68x64.sys", ("12.19.2.45", "12.19.1.37"),
              "Intel Corporation", "Intel(R) Ethernet Connection",
              "Intel(R) Gigabit Adapter NDIS 6.x driver",
              "Microsoft Windows Hardware Compatibility Publisher"),
    BinaryDef("drv_iastor", rf"{_SYS32}\drivers\iaStorVD.sys", ("19.5.2.1049",),
              "Intel Corporation",
              "Intel(R) Rapid Storage Technology", "Intel(R) Rapid Storage Technology driver",
              "Microsoft Windows Hardware Compatibility Publisher"),
    BinaryDef("drv_stopclock", rf"{_SYS32}\drivers\stopclockflt.sys", ("4.2.1",), "Stopclock",
              "Stopclock Agent", "Stopclock file system minifilter", "Stopclock"),
    # Windows, vendor software
    BinaryDef("msmpeng", rf"{_DEFENDER}\MsMpEng.exe", _DEFENDER_VERSIONS, _MS, _MSOS,
              "Antimalware Service Executable", _MS, "MsMpEng.exe"),
    BinaryDef("mpcmdrun", rf"{_DEFENDER}\MpCmdRun.exe", _DEFENDER_VERSIONS, _MS, _MSOS,
              "Microsoft Malware Protection Command Line Utility", _MS, "MpCmdRun.exe"),
    BinaryDef("ccmexec", r"C:\Windows\CCM\CcmExec.exe", ("5.0.9128.1024",), _MS,
              "System Center Configuration Manager",
              "Host Process for Microsoft Configuration Manager",
              _MS, "CcmExec.exe"),
    BinaryDef("stopclock_agent", r"C:\Program Files\Stopclock\Agent\stopclock-agent.exe",
              ("4.2.1", "4.2.0", "4.1.7"), "Stopclock", "Stopclock Agent",
              "Stopclock endpoint agent",
              "Stopclock"),
    BinaryDef("winword", r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
              _OFFICE_VERSIONS, _MS, "Microsoft Office", "Microsoft Word", _MS, "WinWord.exe"),
    BinaryDef("excel", r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE",
              _OFFICE_VERSIONS, _MS, "Microsoft Office", "Microsoft Excel", _MS, "Excel.exe"),
    BinaryDef("powerpnt", r"C:\Program Files\Microsoft Office\root\Office16\POWERPNT.EXE",
              _OFFICE_VERSIONS, _MS, "Microsoft Office", "Microsoft PowerPoint", _MS,
              "POWERPNT.EXE"),
    BinaryDef("outlook", r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
              _OFFICE_VERSIONS, _MS, "Microsoft Office", "Microsoft Outlook", _MS, "Outlook.exe"),
    BinaryDef("officeclicktorun",
              r"C:\Program Files\Common Files\microsoft shared\ClickToRun\OfficeClickToRun.exe",
              _OFFICE_VERSIONS, _MS, "Microsoft Office", "Microsoft Office Click-to-Run", _MS),
    BinaryDef("officec2rclient",
              r"C:\Program Files\Common Files\microsoft shared\ClickToRun\OfficeC2RClient.exe",
              _OFFICE_VERSIONS, _MS, "Microsoft Office",
              "Microsoft Office Click-to-Run Client", _MS),
    BinaryDef("chrome", r"C:\Program Files\Google\Chrome\Application\chrome.exe",
              ("131.0.6778.86", "131.0.6778.140", "130.0.6723.117"), "Google LLC", "Google Chrome",
              "Google Chrome", "Google LLC", "chrome.exe"),
    BinaryDef("googleupdate", r"C:\Program Files (x86)\Google\Update\GoogleUpdate.exe",
              ("1.3.36.372",), "Google LLC", "Google Update", "Google Installer", "Google LLC"),
    BinaryDef("msedge", r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
              ("131.0.2903.86", "131.0.2903.70"), _MS, "Microsoft Edge", "Microsoft Edge", _MS,
              "msedge.exe"),
    BinaryDef("edgeupdate", r"C:\Program Files (x86)\Microsoft\EdgeUpdate\MicrosoftEdgeUpdate.exe",
              ("1.3.195.35",), _MS, "Microsoft Edge Update", "Microsoft Edge Update", _MS),
    BinaryDef("msteams",
              r"C:\Program Files\WindowsApps\MSTeams_{v}_x64__8wekyb3d8bbwe\ms-teams.exe",
              ("24295.605.3225.8804", "24277.3507.3205.5228"), _MS, "Microsoft Teams",
              "Microsoft Teams", _MS, "ms-teams.exe"),
    BinaryDef("onedrive", rf"C:\Users\{USER}\AppData\Local\Microsoft\OneDrive\OneDrive.exe",
              ("24.216.1027.0001", "24.201.1006.0005"), _MS, "Microsoft OneDrive",
              "Microsoft OneDrive", _MS, "OneDrive.exe"),
    BinaryDef("onedriveupdater",
              rf"C:\Users\{USER}\AppData\Local\Microsoft\OneDrive\OneDriveStandaloneUpdater.exe",
              ("24.216.1027.0001",), _MS, "Microsoft OneDrive", "Standalone Updater", _MS),
    BinaryDef("acrord32", r"C:\Program Files (x86)\Adobe\Acrobat Reader DC\Reader\AcroRd32.exe",
              ("24.4.20272.0", "24.4.20220.0"), "Adobe Systems Incorporated",
              "Adobe Acrobat Reader", "Adobe Acrobat Reader", "Adobe Inc.", "AcroRd32.exe"),
    BinaryDef("armsvc", rf"{_ADOBE_ARM}\armsvc.exe", ("1.824.460.1042",), "Adobe Inc.",
              "Adobe Acrobat Update Service", "Adobe Acrobat Update Service", "Adobe Inc."),
    BinaryDef("adobearm", rf"{_ADOBE_ARM}\AdobeARM.exe", ("1.824.460.1042",), "Adobe Inc.",
              "Adobe Reader and Acrobat Manager", "Adobe Reader and Acrobat Manager", "Adobe Inc."),
    BinaryDef("sevenzip", r"C:\Program Files\7-Zip\7z.exe", ("24.08",), "Igor Pavlov", "7-Zip",
              "7-Zip Console", None, "7z.exe"),  # 7-Zip ships unsigned
    BinaryDef("sevenzipfm", r"C:\Program Files\7-Zip\7zFM.exe", ("24.08",), "Igor Pavlov", "7-Zip",
              "7-Zip File Manager", None, "7zFM.exe"),
    BinaryDef("notepadpp", r"C:\Program Files\Notepad++\notepad++.exe", ("8.7.1", "8.6.9"),
              "Don HO don.h@free.fr", "Notepad++", "Notepad++", "Notepad++"),
    BinaryDef("vscode", rf"C:\Users\{USER}\AppData\Local\Programs\Microsoft VS Code\Code.exe",
              ("1.95.3", "1.94.2"), _MS, "Visual Studio Code", "Visual Studio Code", _MS),
    BinaryDef("git", r"C:\Program Files\Git\cmd\git.exe", ("2.47.1.1", "2.46.0.1"),
              "The Git Development Community", "Git", "Git for Windows", "Johannes Schindelin"),
    BinaryDef("docker", r"C:\Program Files\Docker\Docker\Docker Desktop.exe", ("4.36.0",),
              "Docker Inc.", "Docker Desktop", "Docker Desktop", "Docker Inc"),
    BinaryDef("dockersvc", r"C:\Program Files\Docker\Docker\com.docker.service", ("4.36.0",),
              "Docker Inc.", "Docker Desktop", "Docker Desktop Service", "Docker Inc"),
    BinaryDef("zoom", rf"C:\Users\{USER}\AppData\Roaming\Zoom\bin\Zoom.exe", ("6.2.11.50264",),
              "Zoom Video Communications, Inc.", "Zoom", "Zoom Workplace",
              "Zoom Video Communications, Inc."),
    BinaryDef("slack", rf"C:\Users\{USER}\AppData\Local\slack\app-{{v}}\slack.exe",
              ("4.41.105",), "Slack Technologies Inc.", "Slack", "Slack",
              "Slack Technologies, LLC"),
    BinaryDef("saplogon", r"C:\Program Files\SAP\FrontEnd\SAPGUI\saplogon.exe", ("8000.1.11.1161",),
              "SAP SE", "SAP GUI for Windows", "SAP Logon", "SAP SE"),
    BinaryDef("vpnagent",
              r"C:\Program Files (x86)\Cisco\Cisco Secure Client\vpnagent.exe", ("5.1.6.103",),
              "Cisco Systems, Inc.", "Cisco Secure Client",
              "Cisco Secure Client - AnyConnect VPN Agent",
              "Cisco Systems, Inc."),
    BinaryDef("sqlservr",
              r"C:\Program Files\Microsoft SQL Server\MSSQL16.MSSQLSERVER\MSSQL\Binn\sqlservr.exe",
              ("2022.160.4155.4",), _MS, "Microsoft SQL Server", "SQL Server Windows NT - 64 Bit",
              _MS, "SQLServr.exe"),
    BinaryDef("sqlagent",
              r"C:\Program Files\Microsoft SQL Server\MSSQL16.MSSQLSERVER\MSSQL\Binn\SQLAGENT.EXE",
              ("2022.160.4155.4",), _MS, "Microsoft SQL Server",
              "SQLAGENT - SQL Server Agent", _MS),
    BinaryDef("adws", r"C:\Windows\ADWS\Microsoft.ActiveDirectory.WebServices.exe",
              (OS_VERSION,), _MS, _MSOS, "Active Directory Web Services", _MSWIN),
    BinaryDef("smsexec",
              r"C:\Program Files\Microsoft Configuration Manager\bin\X64\smsexec.exe",
              ("5.0.9128.1000",), _MS, "System Center Configuration Manager",
              "Configuration Manager Executive", _MS),
    BinaryDef("vmtoolsd", r"C:\Program Files\VMware\VMware Tools\vmtoolsd.exe", ("12.4.5.23787",),
              "VMware, Inc.", "VMware Tools", "VMware Tools Core Service", "VMware, Inc."),
    # tools attackers bring (scenarios place them; benign endpoints never run them)
    BinaryDef("psexec", rf"C:\Users\{USER}\AppData\Local\Temp\PsExec.exe", ("2.43",),
              "Sysinternals - www.sysinternals.com", "Sysinternals PsExec",
              "Execute processes remotely", _MS, "psexec.c"),
    BinaryDef("psexesvc", r"C:\Windows\PSEXESVC.exe", ("2.43",),
              "Sysinternals - www.sysinternals.com", "Sysinternals PsExec", "PsExec Service",
              _MS, "psexesvc.exe"),
    # the long tail: installed on one to three endpoints of a fleet
    BinaryDef("teamviewer", r"C:\Program Files\TeamViewer\TeamViewer_Service.exe", ("15.60.3.0",),
              "TeamViewer Germany GmbH", "TeamViewer", "TeamViewer 15", "TeamViewer Germany GmbH"),
    BinaryDef("anydesk", r"C:\Program Files (x86)\AnyDesk\AnyDesk.exe", ("8.1.0.0",),
              "AnyDesk Software GmbH", "AnyDesk", "AnyDesk", "philandro Software GmbH"),
    BinaryDef("hpsf", r"C:\Program Files (x86)\HP\HP Support Framework\HPSF.exe", ("12.3.7.0",),
              "HP Inc.", "HP Support Assistant", "HP Support Assistant", "HP Inc."),
    BinaryDef("lghub", r"C:\Program Files\LGHUB\lghub_updater.exe", ("2024.8.1.0",),
              "Logitech", "Logitech G HUB", "Logitech G HUB Updater", "Logitech Inc"),
    BinaryDef("dropboxupdate", r"C:\Program Files (x86)\Dropbox\Update\DropboxUpdate.exe",
              ("1.3.27.73",), "Dropbox, Inc.", "Dropbox Update", "Dropbox Update", "Dropbox, Inc"),
    BinaryDef("spotify", rf"C:\Users\{USER}\AppData\Roaming\Spotify\Spotify.exe",
              ("1.2.50.335",), "Spotify Ltd", "Spotify", "Spotify", "Spotify AB"),
    BinaryDef("greenshot", r"C:\Program Files\Greenshot\Greenshot.exe", ("1.2.10.6",),
              "Greenshot", "Greenshot", "Greenshot", None),
    BinaryDef("npcapcheck", r"C:\Program Files\Npcap\CheckStatus.bat", ("1.79",), pe=False),
    BinaryDef("drv_npcap", rf"{_SYS32}\drivers\npcap.sys", ("13.0.2.1",), "Insecure.Com LLC",
              "Npcap", "npcap.sys (NT6/NDIS6 x64) Kernel Filter Driver",
              "Microsoft Windows Hardware Compatibility Publisher"),
    BinaryDef("drv_vboxsup", rf"{_SYS32}\drivers\VBoxSup.sys", ("7.1.4.165100",),
              "Oracle Corporation", "Oracle VirtualBox", "VirtualBox Support Driver",
              "Oracle Corporation"),
    # macOS
    _mac("launchd", "/sbin/launchd"),
    _mac("logd", "/usr/libexec/logd"),
    _mac("opendirectoryd", "/usr/libexec/opendirectoryd"),
    _mac("windowserver",
         "/System/Library/PrivateFrameworks/SkyLight.framework/Versions/A/Resources/WindowServer"),
    _mac("loginwindow", "/System/Library/CoreServices/loginwindow.app/Contents/MacOS/loginwindow"),
    _mac("dock", "/System/Library/CoreServices/Dock.app/Contents/MacOS/Dock"),
    _mac("finder", "/System/Library/CoreServices/Finder.app/Contents/MacOS/Finder"),
    _mac("mds", "/System/Library/Frameworks/CoreServices.framework/Versions/A/Frameworks/"
         "Metadata.framework/Versions/A/Support/mds"),
    _mac("mdworker", "/System/Library/Frameworks/CoreServices.framework/Versions/A/Frameworks/"
         "Metadata.framework/Versions/A/Support/mdworker_shared"),
    _mac("mdnsresponder", "/usr/sbin/mDNSResponder"),
    _mac("apsd", "/System/Library/PrivateFrameworks/ApplePushService.framework/apsd"),
    _mac("softwareupdated", "/System/Library/PrivateFrameworks/SoftwareUpdate.framework/"
         "Versions/A/Resources/softwareupdated"),
    _mac("terminal", "/System/Applications/Utilities/Terminal.app/Contents/MacOS/Terminal"),
    _mac("zsh", "/bin/zsh"),
    _mac("mac_chrome", "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
         "Developer ID Application: Google LLC (EQHXZ8M8AV)", ("131.0.6778.86", "131.0.6778.140")),
    _mac("mac_chrome_helper", "/Applications/Google Chrome.app/Contents/Frameworks/"
         "Google Chrome Framework.framework/Versions/{v}/Helpers/"
         "Google Chrome Helper (Renderer).app/Contents/MacOS/Google Chrome Helper (Renderer)",
         "Developer ID Application: Google LLC (EQHXZ8M8AV)", ("131.0.6778.86", "131.0.6778.140")),
    _mac("mac_outlook", "/Applications/Microsoft Outlook.app/Contents/MacOS/Microsoft Outlook",
         "Developer ID Application: Microsoft Corporation (UBF8T346G9)", ("16.91", "16.90")),
    _mac("mac_teams", "/Applications/Microsoft Teams.app/Contents/MacOS/MSTeams",
         "Developer ID Application: Microsoft Corporation (UBF8T346G9)", ("24295.605.3225.8804",)),
    _mac("mac_autoupdate", "/Library/PrivilegedHelperTools/com.microsoft.autoupdate.helper",
         "Developer ID Application: Microsoft Corporation (UBF8T346G9)", ("4.77",)),
    _mac("mac_slack", "/Applications/Slack.app/Contents/MacOS/Slack",
         "Developer ID Application: Slack Technologies, Inc. (BQR82RBBHL)", ("4.41.105",)),
    _mac("mac_zoom", "/Applications/zoom.us.app/Contents/MacOS/zoom.us",
         "Developer ID Application: Zoom Video Communications, Inc. (BJ4HAAB9B3)", ("6.2.11",)),
    _mac("mac_vscode", "/Applications/Visual Studio Code.app/Contents/MacOS/Electron",
         "Developer ID Application: Microsoft Corporation (UBF8T346G9)", ("1.95.3",)),
    _mac("mac_keystone", "/Library/Google/GoogleSoftwareUpdate/GoogleSoftwareUpdate.bundle/"
         "Contents/Helpers/GoogleSoftwareUpdateDaemon",
         "Developer ID Application: Google LLC (EQHXZ8M8AV)", ("1.3.36.372",)),
    _mac("jamf", "/usr/local/jamf/bin/jamf", "Developer ID Application: JAMF Software (483DWKW443)",
         ("11.11.1",)),
    _mac("mac_agent", "/Library/Stopclock/stopclock-agent", "Developer ID Application: Stopclock",
         ("4.2.1", "4.2.0")),
    _mac("mac_esext", "/Library/SystemExtensions/com.stopclock.agent.esext.systemextension",
         "Developer ID Application: Stopclock", ("4.2.1",)),
    _mac("mac_acsock", "/Applications/Cisco/Cisco Secure Client - Socket Filter.app/Contents/"
         "Library/SystemExtensions/com.cisco.anyconnect.macos.acsockext.systemextension",
         "Developer ID Application: Cisco (DE8Y96K9QP)", ("5.1.6.103",)),
    # Linux
    _linux("systemd", "/usr/lib/systemd/systemd"),
    _linux("journald", "/usr/lib/systemd/systemd-journald"),
    _linux("udevd", "/usr/lib/systemd/systemd-udevd"),
    _linux("logind", "/usr/lib/systemd/systemd-logind"),
    _linux("resolved", "/usr/lib/systemd/systemd-resolved"),
    _linux("sshd", "/usr/sbin/sshd", ("8.9p1", "9.6p1")),
    _linux("cron", "/usr/sbin/cron"),
    _linux("sh", "/usr/bin/dash"),
    _linux("bash", "/usr/bin/bash"),
    _linux("rsyslogd", "/usr/sbin/rsyslogd"),
    _linux("logrotate", "/usr/sbin/logrotate"),
    _linux("e2scrub", "/usr/sbin/e2scrub_all"),
    _linux("dockerd", "/usr/bin/dockerd", ("27.3.1",)),
    _linux("containerd", "/usr/bin/containerd", ("1.7.23",)),
    _linux("kubelet", "/usr/bin/kubelet", ("1.30.6",)),
    _linux("nginx", "/usr/sbin/nginx", ("1.24.0",)),
    _linux("postgres", "/usr/lib/postgresql/16/bin/postgres", ("16.6",)),
    _linux("java", "/usr/lib/jvm/java-17-openjdk-amd64/bin/java", ("17.0.13",)),
    _linux("node_exporter", "/usr/local/bin/node_exporter", ("1.8.2",)),
    _linux("linux_agent", "/opt/stopclock/bin/stopclock-agent", ("4.2.1", "4.2.0")),
    _linux("ko_xfs", "/lib/modules/{v}/kernel/fs/xfs/xfs.ko", (OS_VERSION,)),
    _linux("ko_overlay", "/lib/modules/{v}/kernel/fs/overlayfs/overlay.ko", (OS_VERSION,)),
    _linux("ko_conntrack", "/lib/modules/{v}/kernel/net/netfilter/nf_conntrack.ko", (OS_VERSION,)),
    _linux("ko_vmxnet3", "/lib/modules/{v}/kernel/drivers/net/vmxnet3/vmxnet3.ko", (OS_VERSION,)),
)  # fmt: skip

BINARY_DEFS: dict[str, BinaryDef] = {d.key: d for d in _DEFS}


@lru_cache(maxsize=4096)
def binary(key: str, version: str) -> Binary:
    """The concrete build ``version`` of binary ``key``, with its derived hashes."""
    d = BINARY_DEFS[key]
    display = d.path.replace("{v}", version)
    # Hashes come from the path *template*: a per-user install has one hash fleet-wide.
    identity = f"{d.path}|{version}"
    md5, sha1, sha256 = (digest(a, identity) for a in ("md5", "sha1", "sha256"))
    path = display.lower()
    name = basename(path)
    fields: dict[str, str] = {"md5": md5, "sha1": sha1, "sha256": sha256}
    if d.pe:
        fields |= {
            "original_file_name": (d.original_file_name or basename(display)).lower(),
            "pe_description": d.description,
            "pe_product": d.product,
            "pe_company": d.company,
            "pe_file_version": version,
            "imphash": digest("md5", f"imphash|{name}|{version.split('.')[0]}"),
        }
    if d.signer:
        fields["signer"] = d.signer
    return Binary(key, display, path, name, version, md5, sha1, sha256, fields)


def installed_version(key: str, hostname: str, os_file_version: str) -> str:
    """Which build of ``key`` this host runs: fixed per host, most hosts on the newest."""
    versions = BINARY_DEFS[key].versions
    if versions == (OS_VERSION,):
        return os_file_version
    if len(versions) == 1:
        return versions[0]
    # 70 % newest, the rest spread over older builds: stacking shows a version spread.
    f = stable_fraction(hostname, key)
    if f < 0.7:
        return versions[0]
    return versions[1 + int((f - 0.7) / 0.3 * (len(versions) - 1))]


# -- autoruns and drivers ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Autorun:
    """A persistence item as inventoried: what kind, its name and what it launches."""

    autorun_type: str
    item_name: str  # natural case; lower-cased into the record
    binary: str  # BinaryDef key of the target
    arguments: str = ""
    registry_key: str | None = None  # run keys: the key holding the value


@dataclass(frozen=True, slots=True)
class Driver:
    """A loaded kernel driver (Windows), system extension (macOS) or module (Linux)."""

    item_name: str
    binary: str


_RUN = r"software\microsoft\windows\currentversion\run"
HKCU_RUN = rf"hkcu\{_RUN}"
HKLM_RUN = rf"hklm\{_RUN}"


@dataclass(frozen=True, slots=True)
class Package:
    """A unit of installed software: binaries it brings, autoruns and drivers it registers.

    ``prevalence`` is the chance a workstation of the package's OS has it, overridden per
    department; ``rare`` packages instead land on one to three endpoints of a fleet (the
    long tail stacking sorts first). Role packages are chosen by server role, not chance.
    """

    key: str
    os_family: str
    autoruns: tuple[Autorun, ...] = ()
    drivers: tuple[Driver, ...] = ()
    prevalence: float = 0.0
    by_department: Mapping[str, float] = field(default_factory=dict)
    rare: bool = False


def _svc(name: str, binary_key: str, arguments: str = "") -> Autorun:
    return Autorun("service", name, binary_key, arguments)


def _task(name: str, binary_key: str, arguments: str = "") -> Autorun:
    return Autorun("scheduled_task", name, binary_key, arguments)


def _run(name: str, binary_key: str, arguments: str = "", hive: str = HKCU_RUN) -> Autorun:
    return Autorun("run_key", name, binary_key, arguments, rf"{hive}\{name.lower()}")


_ENG_IT = {"Engineering": 0.8, "IT": 0.6}

PACKAGES: tuple[Package, ...] = (
    # Windows baseline: every Windows endpoint
    Package("windows", "windows", (
        _svc("Schedule", "svchost", "-k netsvcs -p"),
        _svc("wuauserv", "svchost", "-k netsvcs -p"),
        _svc("Dnscache", "svchost", "-k NetworkService -p"),
        _svc("LanmanWorkstation", "svchost", "-k NetworkService -p"),
        _svc("EventLog", "svchost", "-k LocalServiceNetworkRestricted -p"),
        _svc("WinDefend", "msmpeng"),
        _svc("CcmExec", "ccmexec"),
        _svc("StopclockAgent", "stopclock_agent", "--service"),
        _task(r"\Microsoft\Windows\Defrag\ScheduledDefrag", "defrag", "-c -h -o -$"),
        _task(r"\Microsoft\Windows\WindowsUpdate\Scheduled Start", "sc", "start wuauserv"),
        _run("SecurityHealth", "securityhealthsystray", hive=HKLM_RUN),
    ), (
        Driver("Ntfs", "drv_ntfs"), Driver("Tcpip", "drv_tcpip"), Driver("NDIS", "drv_ndis"),
        Driver("volmgr", "drv_volmgr"), Driver("disk", "drv_disk"),
        Driver("WdFilter", "drv_wdfilter"), Driver("mrxsmb", "drv_mrxsmb"),
        Driver("stopclockflt", "drv_stopclock"),
    )),
    Package("windows_workstation", "windows", (
        _svc("Spooler", "spoolsv"),
        _svc("ClickToRunSvc", "officeclicktorun", "/service"),
        _svc("edgeupdate", "edgeupdate", "/svc"),
        _task(r"\Microsoft\Office\Office Automatic Updates 2.0", "officec2rclient",
              "/frequentupdate SCHEDULEDTASK displaylevel=False"),
        _task(r"\MicrosoftEdgeUpdateTaskMachineUA", "edgeupdate", "/ua /installsource scheduler"),
        _task(r"\OneDrive Standalone Update Task-S-1-5-21-3623811015-3361044348-30300820-1013",
              "onedriveupdater"),
        _run("OneDrive", "onedrive", "/background"),
    ), (Driver("storahci", "drv_storahci"), Driver("e1d68x64", "drv_e1d"),
        Driver("iaStorVD", "drv_iastor"))),
    Package("chrome", "windows", (
        _svc("gupdate", "googleupdate", "/svc"),
        _task(r"\GoogleUpdateTaskMachineCore{8A1C4B51-1E2C-4E4C-9C4D-6E2D1B7F5A21}",
              "googleupdate", "/c"),
    ), prevalence=0.8),
    Package("acrobat", "windows", (
        _svc("AdobeARMservice", "armsvc"),
        _task(r"\Adobe Acrobat Update Task", "adobearm"),
    ), prevalence=0.7, by_department={"Finance": 0.95, "Legal": 0.95}),
    Package("sevenzip", "windows", prevalence=0.3, by_department={"IT": 0.9, "Engineering": 0.6}),
    Package("notepadpp", "windows", prevalence=0.1, by_department=_ENG_IT),
    Package("vscode", "windows", prevalence=0.02, by_department=_ENG_IT),
    Package("git", "windows", by_department={"Engineering": 0.9, "IT": 0.4}),
    Package("docker", "windows", (_svc("com.docker.service", "dockersvc"),),
            by_department={"Engineering": 0.3}),
    Package("zoom", "windows", prevalence=0.25, by_department={"Sales": 0.7}),
    Package("slack", "windows", (_run("com.squirrel.slack.slack", "slack",
                                      "--process-start-args --startup"),),
            prevalence=0.1, by_department={"Engineering": 0.7, "IT": 0.5}),
    Package("sapgui", "windows", prevalence=0.02, by_department={"Finance": 0.9,
                                                                  "Operations": 0.4}),
    Package("vpn", "windows", (_svc("csc_vpnagent", "vpnagent"),), prevalence=0.6),
    # Windows server roles
    Package("windows_server", "windows", (_svc("VMTools", "vmtoolsd"),),
            (Driver("vmxnet3ndis6", "drv_vmxnet3"),)),
    Package("role_domain_controller", "windows", (
        _svc("DNS", "dns"), _svc("DFSR", "dfsrs"), _svc("IsmServ", "ismserv"),
        _svc("ADWS", "adws"),
    ), (Driver("DfsrRo", "drv_dfsr"),)),
    Package("role_file_server", "windows", (_svc("DFSR", "dfsrs"),),
            (Driver("srv2", "drv_srv2"), Driver("DfsrRo", "drv_dfsr"))),
    Package("role_sql_server", "windows", (
        _svc("MSSQLSERVER", "sqlservr", "-sMSSQLSERVER"),
        _svc("SQLSERVERAGENT", "sqlagent", "-i MSSQLSERVER"),
    )),
    Package("role_web_server", "windows", (_svc("W3SVC", "svchost", "-k iissvcs"),
                                           _svc("WAS", "svchost", "-k iissvcs"))),
    Package("role_app_server", "windows"),
    Package("role_management_server", "windows", (_svc("SMS_EXECUTIVE", "smsexec"),)),
    # the long tail
    Package("teamviewer", "windows", (_svc("TeamViewer", "teamviewer"),), rare=True),
    Package("anydesk", "windows", (_svc("AnyDesk", "anydesk", "--service"),), rare=True),
    Package("hpsa", "windows", (_run("HPSupportAssistant", "hpsf", "/startup", HKLM_RUN),),
            rare=True),
    Package("lghub", "windows", (_svc("LGHUBUpdaterService", "lghub", "--run-as-service"),),
            rare=True),
    Package("dropbox", "windows", (_svc("dbupdate", "dropboxupdate", "/svc"),), rare=True),
    Package("spotify", "windows", (_run("Spotify", "spotify", "--autostart --minimized"),),
            rare=True),
    Package("greenshot", "windows", (_run("Greenshot", "greenshot"),), rare=True),
    Package("npcap", "windows", (_task(r"\npcapwatchdog", "npcapcheck"),),
            (Driver("npcap", "drv_npcap"),), rare=True),
    Package("virtualbox", "windows", drivers=(Driver("VBoxSup", "drv_vboxsup"),), rare=True),
    # macOS (launchd daemons and agents are inventoried as services)
    Package("macos", "macos", (
        _svc("com.jamf.management.daemon", "jamf", "launchDaemon"),
        _svc("com.microsoft.autoupdate.helper", "mac_autoupdate"),
        _svc("com.google.keystone.daemon", "mac_keystone"),
        _svc("com.stopclock.agent", "mac_agent"),
    ), (Driver("com.stopclock.agent.esext", "mac_esext"),)),
    Package("mac_vpn", "macos", drivers=(Driver("com.cisco.anyconnect.macos.acsockext",
                                                "mac_acsock"),), prevalence=0.6),
    Package("mac_slack", "macos", prevalence=0.5, by_department={"Engineering": 0.9}),
    Package("mac_zoom", "macos", prevalence=0.4),
    Package("mac_vscode", "macos", prevalence=0.1, by_department={"Engineering": 0.9}),
    # Linux (systemd units are services, cron entries scheduled tasks)
    Package("linux", "linux", (
        _svc("ssh.service", "sshd", "-D"),
        _svc("cron.service", "cron", "-f -P"),
        _svc("rsyslog.service", "rsyslogd", "-n -iNONE"),
        _svc("node_exporter.service", "node_exporter"),
        _svc("stopclock-agent.service", "linux_agent", "--foreground"),
        _task("/etc/cron.daily/logrotate", "logrotate", "/etc/logrotate.conf"),
        _task("/etc/cron.d/e2scrub_all", "e2scrub", "-A -r"),
    ), (Driver("xfs", "ko_xfs"), Driver("nf_conntrack", "ko_conntrack"),
        Driver("vmxnet3", "ko_vmxnet3"))),
    Package("role_linux_web", "linux", (_svc("nginx.service", "nginx"),)),
    Package("role_linux_db", "linux", (_svc("postgresql@16-main.service", "postgres"),)),
    Package("role_linux_k8s", "linux", (
        _svc("kubelet.service", "kubelet"), _svc("containerd.service", "containerd"),
    ), (Driver("overlay", "ko_overlay"),)),
    Package("role_linux_app", "linux", (
        _svc("docker.service", "dockerd", "-H fd:// --containerd=/run/containerd/containerd.sock"),
        _svc("containerd.service", "containerd"),
    ), (Driver("overlay", "ko_overlay"),)),
)  # fmt: skip

PACKAGE_BY_KEY: dict[str, Package] = {p.key: p for p in PACKAGES}
RARE_PACKAGES: tuple[Package, ...] = tuple(p for p in PACKAGES if p.rare)


def optional_packages(os_family: str) -> tuple[Package, ...]:
    """Packages a workstation of ``os_family`` may or may not have (chosen by chance)."""
    return tuple(
        p
        for p in PACKAGES
        if p.os_family == os_family and not p.rare and (p.prevalence or p.by_department)
    )


# -- network destinations --------------------------------------------------------------------

# Believable public addresses per service (real owners' ranges). None is in a TEST-NET, so
# the planted attacker infrastructure (TEST-NET-3, reserved names) can never collide.
DESTINATIONS: dict[str, tuple[str, ...]] = {
    "www.google.com": ("142.250.185.68", "142.250.74.100", "172.217.16.196"),
    "fonts.gstatic.com": ("142.250.185.99", "142.250.186.35"),
    "update.googleapis.com": ("142.250.185.227", "172.217.18.3"),
    "accounts.google.com": ("142.250.186.45",),
    "www.youtube.com": ("142.250.185.206", "172.217.23.110"),
    "github.com": ("140.82.121.3", "140.82.121.4"),
    "api.github.com": ("140.82.121.6",),
    "registry.npmjs.org": ("104.16.1.35", "104.16.3.35"),
    "pypi.org": ("151.101.0.223", "151.101.64.223"),
    "www.linkedin.com": ("13.107.42.14",),
    "outlook.office365.com": ("52.97.211.2", "52.98.59.34", "40.99.34.178"),
    "login.microsoftonline.com": ("20.190.159.68", "40.126.31.67"),
    "teams.microsoft.com": ("52.113.194.132", "52.112.100.24"),
    "graph.microsoft.com": ("20.190.151.6",),
    "%dom%.sharepoint.com": ("13.107.136.10", "13.107.138.10"),
    "edge.microsoft.com": ("13.107.21.239",),
    "www.bing.com": ("13.107.21.200", "204.79.197.200"),
    "settings-win.data.microsoft.com": ("20.42.73.29", "20.189.173.8"),
    "ctldl.windowsupdate.com": ("23.53.40.11", "2.16.241.217"),
    "7.dl.delivery.mp.microsoft.com": ("2.16.241.201", "23.32.46.73"),
    "wdcp.microsoft.com": ("20.82.62.110",),
    "officecdn.microsoft.com": ("23.53.34.152",),
    "zoom.us": ("170.114.52.2", "170.114.10.76"),
    "slack.com": ("3.67.204.57", "18.159.197.225"),
    "%dom%.jamfcloud.com": ("54.93.17.211",),
    "api.apple-cloudkit.com": ("17.248.193.8",),
    "gateway.icloud.com": ("17.248.193.66",),
    "registry-1.docker.io": ("54.227.20.253", "34.226.69.105"),
    "production.cloudflare.docker.com": ("104.16.100.207",),
    "archive.ubuntu.com": ("185.125.190.83", "91.189.91.83"),
    "download.adobe.com": ("23.52.182.117",),
    "armmf.adobe.com": ("23.52.182.119",),
}

DOCUMENT_NAMES: tuple[str, ...] = (
    "Q4 forecast", "Board update", "Vendor contract review", "Team offsite agenda",
    "Expense report November", "Customer escalation notes", "Project roadmap 2027",
    "Headcount plan", "Pricing proposal", "Incident postmortem", "Onboarding checklist",
    "Budget variance", "Meeting minutes", "Sales pipeline", "Release notes draft",
    "Travel itinerary", "Invoice 48213", "Policy update", "Benefits overview", "Quarterly KPIs",
)  # fmt: skip
