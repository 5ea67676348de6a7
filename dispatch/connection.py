"""One way to reach Temporal for every process (worker, web app, relay, starter, CLI): the address and
namespace, TLS or mTLS or a Temporal Cloud API key, and the data converter with the payload codec, so
every payload a process writes to history is encrypted and every one it reads is decrypted."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from config import Settings, tracing
from config.settings import temporal_tls
from encryption import EncryptionCodec, KeyRing, RefusedPayloadConverter


class PayloadConverter(PydanticPayloadConverter):
    """Pydantic's, plus the reader of refused plain payloads (encryption.codec): reading one raises
    PlainPayloadRefused, so the SDK rejects an Update or drops a signal that was not encrypted."""

    def __init__(self) -> None:
        super().__init__()
        self._set_converters(*self.converters.values(), RefusedPayloadConverter())


def data_converter_for(ring: KeyRing) -> DataConverter:
    """Pydantic models in, AES-GCM ciphertext out; failure messages and stack traces moved into an
    encoded payload too, so history holds no readable exception text. A payload that is not encrypted is
    refused where it is read (encryption.codec)."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_converter_class=PayloadConverter,
        payload_codec=EncryptionCodec(ring, refuse_plain=True),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def data_converter(settings: Settings) -> DataConverter:
    return data_converter_for(settings.key_ring())


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TEMPORAL_TLS (system CAs), TEMPORAL_TLS_CA, TEMPORAL_TLS_CERT + TEMPORAL_TLS_KEY (mTLS); an API key
    implies TLS. False: plain gRPC (the embedded dev server). The settings are read and checked in config
    (config.settings.temporal_tls); this makes the SDK's TLSConfig of them."""
    tls = temporal_tls(settings)
    if isinstance(tls, bool):
        return tls
    return TLSConfig(
        server_root_ca_cert=tls.server_root_ca_cert,
        client_cert=tls.client_cert,
        client_private_key=tls.client_private_key,
        domain=tls.domain,
    )


def worker_metrics_address(settings: Settings) -> str | None:
    """Where the worker serves its SDK metrics: WORKER_METRICS_HOST (default 127.0.0.1, this machine only;
    `0.0.0.0` or an interface's address for a Prometheus on another host) and WORKER_METRICS_PORT; None
    when the port is unset."""
    if not settings.worker_metrics_port:
        return None
    host = settings.worker_metrics_host
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    return f"{host}:{settings.worker_metrics_port}"


def worker_runtime(settings: Settings) -> Runtime | None:
    """The worker's Temporal runtime with its SDK metrics (temporal_*: polls, task latencies, slots,
    schedule-to-start, failures) served in Prometheus format at `worker_metrics_address`; None (the
    default runtime, no metrics server) when the port is unset."""
    address = worker_metrics_address(settings)
    if address is None:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))


async def connect_waiting(
    settings: Settings, runtime: Runtime | None = None, *, log: logging.Logger, most: float = 30.0
) -> Client:
    """`connect`, trying again (1 s, doubling to `most` seconds apart) while Temporal cannot be reached:
    a worker started during a Temporal restart or before the cluster is up waits for it and says so once
    an attempt, instead of exiting."""
    pause = 1.0
    while True:
        try:
            return await connect(settings, runtime)
        except RuntimeError as exc:  # the SDK's "Failed client connect: …"
            log.warning(
                "Temporal at %s not reachable (%s): trying again in %.0f s",
                settings.temporal_target,
                str(exc).splitlines()[0][:160],
                pause,
            )
            await asyncio.sleep(pause)
            pause = min(pause * 2, most)


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        tls=tls_config(settings),
        api_key=settings.temporal_api_key or None,
        runtime=runtime,
        # traces across web -> Temporal -> activities when tracing is on (config/tracing.py)
        interceptors=tracing.client_interceptors(),
    )


def not_found(exc: BaseException) -> bool:
    """Temporal answered that the workflow (or run) does not exist."""
    return isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND
