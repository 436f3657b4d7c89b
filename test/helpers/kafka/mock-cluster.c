/*
 * A librdkafka mock cluster for the tests, driven over stdin: librdkafka's own
 * mock brokers (rdkafka_mock.h), with the controls its JS binding does not
 * expose: topics with a given partition count, brokers going down and up.
 *   usage: mock-cluster <brokers>
 *   prints "BOOTSTRAP=<host:port,...>", then answers each command with "OK <result>":
 *   "topic <name> <partitions>" | "down <broker id>" | "up <broker id>" | "quit"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

int main(int argc, char **argv) {
  char errstr[512];
  int brokers = argc > 1 ? atoi(argv[1]) : 3;
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), errstr, sizeof errstr);
  if (rk == NULL) {
    fprintf(stderr, "rd_kafka_new: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (mc == NULL) {
    fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
    return 1;
  }
  printf("BOOTSTRAP=%s\n", rd_kafka_mock_cluster_bootstraps(mc));
  fflush(stdout);
  char line[512];
  while (fgets(line, sizeof line, stdin) != NULL) {
    int id, partitions;
    char name[256];
    rd_kafka_resp_err_t err;
    if (sscanf(line, "topic %255s %d", name, &partitions) == 2)
      err = rd_kafka_mock_topic_create(mc, name, partitions, brokers < 3 ? brokers : 3);
    else if (sscanf(line, "down %d", &id) == 1)
      err = rd_kafka_mock_broker_set_down(mc, id);
    else if (sscanf(line, "up %d", &id) == 1)
      err = rd_kafka_mock_broker_set_up(mc, id);
    else if (strncmp(line, "quit", 4) == 0)
      break;
    else {
      printf("ERR unknown command\n");
      fflush(stdout);
      continue;
    }
    printf("OK %s\n", rd_kafka_err2str(err));
    fflush(stdout);
  }
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
