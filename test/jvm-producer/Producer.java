import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * A telephony platform's own producer of cdr.raw, written the way a JVM shop writes one: kafka-clients
 * with Apicurio's Avro serde (2.x, against the registry's v2 API). Run as a single-file source:
 *
 *   java -cp '.rateline/jvm-producer-libs/*' Producer.java --mode correct --count 50 --source pbx-1 \
 *     --bootstrap 127.0.0.1:19092 --registry http://127.0.0.1:18081 --schema schemas/cdr.raw.avsc \
 *     --called +18005550100
 *
 * Modes:
 *   correct    Confluent framing (magic byte, 4-byte id) with the content id, which is the id the
 *              registry's Confluent-compatible API knows: what rateline reads.
 *   headers    the serde's defaults: plain Avro body, ids in record headers.
 *   global-id  Confluent framing, but with the global id (the serde's default id).
 *
 * The schema must already be registered (the serde does not auto-register by default). Prints
 * "sent N" and exits 0 when the broker acknowledged every record; exits 1 on any failure.
 */
public class Producer {
  public static void main(String[] argv) throws Exception {
    Map<String, String> args = parse(argv);
    String mode = args.getOrDefault("mode", "correct");
    int count = Integer.parseInt(args.getOrDefault("count", "10"));
    String source = require(args, "source");
    String topic = args.getOrDefault("topic", "cdr.raw");
    Schema schema = new Schema.Parser().parse(Files.readString(Path.of(require(args, "schema"))));

    Properties props = new Properties();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, require(args, "bootstrap"));
    props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, "io.apicurio.registry.serde.avro.AvroKafkaSerializer");
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    props.put("apicurio.registry.url", require(args, "registry").replaceAll("/$", "") + "/apis/registry/v2");
    if (args.containsKey("artifact-id")) props.put("apicurio.registry.artifact.artifact-id", args.get("artifact-id"));
    switch (mode) {
      case "correct" -> {
        props.put("apicurio.registry.use-id", "contentId");
        props.put("apicurio.registry.id-handler", "io.apicurio.registry.serde.Legacy4ByteIdHandler");
        props.put("apicurio.registry.headers.enabled", "false");
        props.put("apicurio.registry.as-confluent", "true");
      }
      case "headers" -> { }
      case "global-id" -> {
        props.put("apicurio.registry.headers.enabled", "false");
        props.put("apicurio.registry.as-confluent", "true");
      }
      default -> throw new IllegalArgumentException("--mode must be correct, headers or global-id, got " + mode);
    }

    long firstStart = Instant.parse(args.getOrDefault("start", "2026-03-05T15:00:00Z")).toEpochMilli();
    AtomicReference<Exception> failure = new AtomicReference<>();
    try (KafkaProducer<String, GenericRecord> producer = new KafkaProducer<>(props)) {
      for (int i = 1; i <= count; i++) {
        GenericRecord cdr = new GenericData.Record(schema);
        String cdrId = "jvm-" + i;
        long start = firstStart + i * 60_000L;
        long seconds = 30 + i % 90;
        cdr.put("source", source);
        cdr.put("cdrId", cdrId);
        cdr.put("callingNumber", "+12125550123");
        cdr.put("calledNumber", args.getOrDefault("called", "+18005550100"));
        cdr.put("usageType", args.getOrDefault("usage-type", "LCA"));
        cdr.put("startTime", start);
        cdr.put("endTime", start + seconds * 1000);
        cdr.put("durationSeconds", seconds);
        cdr.put("attributes", new HashMap<>(Map.of("platform", "jvm-producer", "mode", mode)));
        cdr.put("receivedAt", null);
        producer.send(new ProducerRecord<>(topic, source + "/" + cdrId, cdr), (metadata, error) -> {
          if (error != null) failure.compareAndSet(null, error);
        });
      }
      producer.flush();
    }
    if (failure.get() != null) throw failure.get();
    System.out.println("sent " + count);
  }

  private static Map<String, String> parse(String[] argv) {
    Map<String, String> args = new HashMap<>();
    for (int i = 0; i < argv.length; i += 2) {
      if (!argv[i].startsWith("--") || i + 1 >= argv.length) throw new IllegalArgumentException("arguments are --name value pairs: " + List.of(argv));
      args.put(argv[i].substring(2), argv[i + 1]);
    }
    return args;
  }

  private static String require(Map<String, String> args, String name) {
    String value = args.get(name);
    if (value == null) throw new IllegalArgumentException("--" + name + " is required");
    return value;
  }
}
