"""Apache Kafka on loopback for tests and local use, fetched from Maven and run as JVMs."""

from stream.local_kafka.cluster import LocalKafka
from stream.local_kafka.fetch import KAFKA_VERSION, java_missing, kafka_libs

__all__ = ["KAFKA_VERSION", "LocalKafka", "java_missing", "kafka_libs"]
