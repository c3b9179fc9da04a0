"""miIO with hard deadlines.

python-miio is blocking UDP: a silent vacuum makes a call wait out its socket timeouts
(and the handshake's own, fixed 5 s discovery wait). Each device call therefore runs in
its own daemon thread and the caller waits at most ``deadline`` seconds; a late thread
is abandoned (it ends on its own when its socket times out) and never holds a worker.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

from miio import DeviceException, RoborockVacuum
from miio.exceptions import DeviceError, InvalidTokenException, PayloadDecodeException
from miio.protocol import Message

from connectors.sdk.base import run_in_context
from connectors.sdk.errors import ConnectorError, ErrorCode

MIIO_PORT = 54321
HELLO = bytes.fromhex("21310020" + "ff" * 28)


def call_with_deadline[T](fn: Callable[[], T], deadline: float, what: str) -> T:
    box: dict[str, Any] = {}
    done = threading.Event()
    bound = run_in_context(fn)

    def work() -> None:
        try:
            box["value"] = bound()
        except BaseException as error:
            box["error"] = error
        finally:
            done.set()

    threading.Thread(target=work, name=f"miio {what}", daemon=True).start()
    if not done.wait(deadline):
        raise ConnectorError(ErrorCode.TIMEOUT, f"{what} did not answer within {deadline:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


class VacuumLink:
    """One vacuum: ``send`` a miIO method and get its result, with our error codes."""

    def __init__(self, *, ip: str, token: str, model: str, timeout: float) -> None:
        self.ip = ip
        self.timeout = timeout
        self._device = RoborockVacuum(ip, token, model=model, timeout=timeout)  # type: ignore[arg-type]
        # Retries are the SDK's (backoff + jitter, transient only), not miio's immediate ones.
        self._device.retry_count = 0

    def handshake(self) -> None:
        """The miIO hello, on a *connected* UDP socket with our timeout.

        python-miio's own discovery waits a fixed 5 s on an unconnected socket, so it cannot
        tell "nothing listens here" (the kernel's port-unreachable, UNAVAILABLE) from "the
        vacuum is silent" (TIMEOUT). The reply seeds the protocol exactly as miio's
        ``send_handshake`` would (device id and device clock; python-miio is pinned).
        """
        where = f"handshake with {self.ip}"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(self.timeout)
            try:
                sock.connect((self.ip, MIIO_PORT))
                sock.send(HELLO)
                data = sock.recv(1024)
            except TimeoutError:
                raise ConnectorError(ErrorCode.TIMEOUT, f"{where}: no answer") from None
            except ConnectionRefusedError:
                raise ConnectorError(
                    ErrorCode.UNAVAILABLE, f"{where}: nothing listens on UDP {MIIO_PORT}"
                ) from None
            except OSError as error:
                raise ConnectorError(
                    ErrorCode.UNAVAILABLE, f"{where}: {type(error).__name__}"
                ) from None
        try:
            header = Message.parse(data).header.value
        except Exception:
            raise ConnectorError(
                ErrorCode.BAD_RESPONSE,
                f"{where}: not a miIO hello reply",
                diagnostic=data[:200].hex(),
            ) from None
        protocol = self._device._protocol
        protocol._device_id = header.device_id
        protocol._device_ts = header.ts
        protocol._discovered = True

    def send(self, method: str, params: Any = None) -> Any:
        where = f"{method} on {self.ip}"
        if not self._device._protocol._discovered:
            self.handshake()
        try:
            return self._device.send(method, params)
        except InvalidTokenException:
            # A vacuum never answers a packet sealed with the wrong token (it cannot read
            # it), so a reply that fails its checksum is a corrupted or truncated datagram.
            raise ConnectorError(
                ErrorCode.BAD_RESPONSE,
                f"{where}: the reply failed its checksum (corrupted or truncated)",
            ) from None
        except PayloadDecodeException as error:
            raise ConnectorError(
                ErrorCode.BAD_RESPONSE, f"{where}: undecodable reply", diagnostic=str(error)[:200]
            ) from None
        except DeviceError as error:
            raise ConnectorError(
                ErrorCode.UNAVAILABLE, f"{where}: the device reported an error ({error})"
            ) from None
        except DeviceException as error:
            text = str(error)
            if "Unable to discover" in text:
                # The handshake failed at once: nothing listens there (ICMP refused) or the
                # address is wrong.
                raise ConnectorError(
                    ErrorCode.UNAVAILABLE, f"{where}: no miIO device answers the handshake"
                ) from None
            raise ConnectorError(
                ErrorCode.TIMEOUT, f"{where}: no response from the device"
            ) from None
        except OSError as error:
            raise ConnectorError(
                ErrorCode.UNAVAILABLE, f"{where}: {type(error).__name__}"
            ) from None
        except Exception as error:  # construct parse errors: a datagram we cannot decode
            raise ConnectorError(
                ErrorCode.BAD_RESPONSE,
                f"{where}: undecodable reply ({type(error).__name__})",
                diagnostic=str(error)[:200],
            ) from None
