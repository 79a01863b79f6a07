"""Where vendor files come from: a local inbox folder or an SFTP server. Listing and streaming only."""

from intelliwatt_pipelines.transport.base import RemoteEntry, TransportError
from intelliwatt_pipelines.transport.local import LocalInbox
from intelliwatt_pipelines.transport.sftp import SftpInbox, SftpSettings

__all__ = ["LocalInbox", "RemoteEntry", "SftpInbox", "SftpSettings", "TransportError"]
