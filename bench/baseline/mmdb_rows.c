/*
 * The bare baseline that `hostloc batch` of IP literals is measured against (issue 14): for each
 * line of input (one IPv4 or IPv6 address), one lookup in the country database and one in the
 * ASN database with libmaxminddb, writing `ip,cc,asn` (empty when unknown). One thread, buffered
 * stdio, the address parsed with inet_pton. Not part of the product; bench/batch_ips.sh compiles
 * it with gcc -O2 against Debian's libmaxminddb-dev.
 *
 * Usage: mmdb_rows COUNTRY_DB ASN_DB < addresses.txt > rows.csv
 */
#include <arpa/inet.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void open_db(const char *path, MMDB_s *db) {
    int status = MMDB_open(path, MMDB_MODE_MMAP, db);
    if (status != MMDB_SUCCESS) {
        fprintf(stderr, "mmdb_rows: %s: %s\n", path, MMDB_strerror(status));
        exit(1);
    }
}

static MMDB_lookup_result_s lookup(MMDB_s *db, const struct sockaddr *address) {
    int mmdb_error = 0;
    MMDB_lookup_result_s result = MMDB_lookup_sockaddr(db, address, &mmdb_error);
    if (mmdb_error != MMDB_SUCCESS) {
        result.found_entry = false;
    }
    return result;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: mmdb_rows COUNTRY_DB ASN_DB < addresses > rows\n");
        return 2;
    }
    MMDB_s country_db, asn_db;
    open_db(argv[1], &country_db);
    open_db(argv[2], &asn_db);
    static char out_buffer[1 << 16];
    setvbuf(stdout, out_buffer, _IOFBF, sizeof out_buffer);
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        struct sockaddr_storage storage;
        memset(&storage, 0, sizeof storage);
        struct sockaddr_in *v4 = (struct sockaddr_in *)&storage;
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&storage;
        if (inet_pton(AF_INET, line, &v4->sin_addr) == 1) {
            v4->sin_family = AF_INET;
        } else if (inet_pton(AF_INET6, line, &v6->sin6_addr) == 1) {
            v6->sin6_family = AF_INET6;
        } else {
            printf("%s,,\n", line);
            continue;
        }
        char country[8] = "";
        MMDB_lookup_result_s found = lookup(&country_db, (struct sockaddr *)&storage);
        if (found.found_entry) {
            MMDB_entry_data_s data;
            if (MMDB_get_value(&found.entry, &data, "country_code", NULL) == MMDB_SUCCESS &&
                data.has_data && data.type == MMDB_DATA_TYPE_UTF8_STRING &&
                data.data_size < sizeof country) {
                memcpy(country, data.utf8_string, data.data_size);
                country[data.data_size] = '\0';
            }
        }
        long asn = -1;
        found = lookup(&asn_db, (struct sockaddr *)&storage);
        if (found.found_entry) {
            MMDB_entry_data_s data;
            if (MMDB_get_value(&found.entry, &data, "autonomous_system_number", NULL) ==
                    MMDB_SUCCESS &&
                data.has_data && data.type == MMDB_DATA_TYPE_UINT32) {
                asn = data.uint32;
            }
        }
        if (asn >= 0) {
            printf("%s,%s,%ld\n", line, country, asn);
        } else {
            printf("%s,%s,\n", line, country);
        }
    }
    MMDB_close(&country_db);
    MMDB_close(&asn_db);
    return ferror(stdout) ? 1 : 0;
}
