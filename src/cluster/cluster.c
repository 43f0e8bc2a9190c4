/* GET /cluster rendering; see cluster.h for the document. */
#include "cluster/cluster.h"

#include <stdio.h>

#include "common/assert.h"
#include "config/config.h"
#include "json/json.h"

static void write_node_id(struct stet_json_writer *w, uint32_t id) {
    if (id == 0) {
        stet_json_write_null(w);
        return;
    }
    char s[16];
    snprintf(s, sizeof(s), "N%u", id);
    stet_json_write_string(w, s);
}

static void write_self(struct stet_json_writer *w, const struct stet_cluster_view *v) {
    stet_json_begin_array(w);
    write_node_id(w, v->this_node);
    stet_json_end_array(w);
}

static void write_replicas(struct stet_json_writer *w, const struct stet_cluster_view *v,
                           const struct stet_cluster_partition *p) {
    if (p->n_replicas == 0) {
        write_self(w, v);
        return;
    }
    stet_json_begin_array(w);
    for (uint32_t i = 0; i < p->n_replicas; i++) write_node_id(w, p->replicas[i]);
    stet_json_end_array(w);
}

static void write_members(struct stet_json_writer *w, const struct stet_cluster_view *v) {
    stet_json_begin_array(w);
    for (uint32_t i = 0; i < v->n_nodes; i++) write_node_id(w, v->nodes[i].id);
    stet_json_end_array(w);
}

static void write_node(struct stet_json_writer *w, const struct stet_cluster_node *n) {
    STET_ASSERT(n->id != 0);
    stet_json_begin_object(w);
    stet_json_key(w, "id");
    write_node_id(w, n->id);
    stet_json_key(w, "generation");
    stet_json_write_uint(w, n->generation);
    char gid[32];
    snprintf(gid, sizeof(gid), "N%u:%u", n->id, n->generation);
    stet_json_key(w, "generational_id");
    stet_json_write_string(w, gid);
    stet_json_key(w, "name");
    stet_json_write_string(w, n->name);
    stet_json_key(w, "roles");
    stet_json_begin_array(w);
    for (size_t r = 0; r < STET_ARRAY_LEN(stet_config_role_names); r++)
        if (n->roles & (1u << r)) stet_json_write_string(w, stet_config_role_names[r]);
    stet_json_end_array(w);
    stet_json_key(w, "location");
    stet_json_write_string(w, n->location ? n->location : "");
    stet_json_key(w, "status");
    stet_json_write_string(w, n->status);
    stet_json_key(w, "uptime_ms");
    stet_json_write_uint(w, n->uptime_ms);
    stet_json_key(w, "addresses");
    stet_json_begin_object(w);
    stet_json_key(w, "advertised");
    stet_json_write_string(w, n->advertised_address);
    stet_json_key(w, "fabric");
    stet_json_write_string(w, n->fabric_bind);
    stet_json_key(w, "admin");
    stet_json_write_string(w, n->admin_bind);
    stet_json_key(w, "ingress");
    stet_json_write_string(w, n->ingress_bind);
    stet_json_key(w, "advertised_ingress");
    stet_json_write_string(w, n->advertised_ingress);
    stet_json_end_object(w);
    stet_json_end_object(w);
}

void stet_cluster_render(struct stet_buf *out, const struct stet_cluster_view *v) {
    struct stet_json_writer w;
    stet_json_writer_init(&w, out);
    stet_json_begin_object(&w);
    stet_json_key(&w, "cluster_name");
    stet_json_write_string(&w, v->cluster_name);
    stet_json_key(&w, "this_node");
    write_node_id(&w, v->this_node);
    stet_json_key(&w, "nodes");
    stet_json_begin_array(&w);
    for (uint32_t i = 0; i < v->n_nodes; i++) write_node(&w, &v->nodes[i]);
    stet_json_end_array(&w);

    stet_json_key(&w, "partitions");
    stet_json_begin_array(&w);
    for (uint32_t i = 0; i < v->n_partitions; i++) {
        const struct stet_cluster_partition *p = &v->partitions[i];
        STET_ASSERT(p->key_start <= p->key_end);
        stet_json_begin_object(&w);
        stet_json_key(&w, "id");
        stet_json_write_uint(&w, p->id);
        stet_json_key(&w, "key_range");
        stet_json_begin_object(&w);
        stet_json_key(&w, "start");
        stet_json_write_uint(&w, p->key_start);
        stet_json_key(&w, "end");
        stet_json_write_uint(&w, p->key_end);
        stet_json_end_object(&w);
        stet_json_key(&w, "log_id");
        stet_json_write_uint(&w, p->id);
        stet_json_key(&w, "leader");
        write_node_id(&w, p->leader_node);
        stet_json_key(&w, "replica_set");
        write_replicas(&w, v, p);
        stet_json_key(&w, "mode");
        stet_json_write_string(&w, p->leader_node != 0 && p->leader_node == v->this_node ? "leader" : "follower");
        stet_json_key(&w, "epoch");
        stet_json_write_uint(&w, p->epoch);
        stet_json_key(&w, "applied_lsn");
        stet_json_write_uint(&w, p->applied_lsn);
        stet_json_key(&w, "durable_lsn");
        stet_json_write_uint(&w, p->durable_lsn);
        stet_json_key(&w, "lsn_lag");
        stet_json_write_uint(&w, p->durable_lsn > p->applied_lsn ? p->durable_lsn - p->applied_lsn : 0);
        if (p->n_replicas > 0) {
            stet_json_key(&w, "term");
            stet_json_write_uint(&w, p->term);
            stet_json_key(&w, "commit_lsn");
            stet_json_write_uint(&w, p->commit_lsn);
            stet_json_key(&w, "replica");
            if (p->replica_here) {
                stet_json_begin_object(&w);
                stet_json_key(&w, "node");
                write_node_id(&w, v->this_node);
                stet_json_key(&w, "applied_lsn");
                stet_json_write_uint(&w, p->applied_lsn);
                stet_json_key(&w, "durable_lsn");
                stet_json_write_uint(&w, p->durable_lsn);
                stet_json_end_object(&w);
            } else {
                stet_json_write_null(&w);
            }
            stet_json_key(&w, "replicas");
            stet_json_begin_array(&w);
            for (uint32_t r = 0; r < p->n_replicas; r++) {
                const struct stet_cluster_replica *rp = &p->progress[r];
                stet_json_begin_object(&w);
                stet_json_key(&w, "node");
                write_node_id(&w, p->replicas[r]);
                if (rp->known) {
                    stet_json_key(&w, "applied_lsn");
                    stet_json_write_uint(&w, rp->applied_lsn);
                    stet_json_key(&w, "durable_lsn");
                    stet_json_write_uint(&w, rp->durable_lsn);
                    stet_json_key(&w, "flushed_lsn");
                    stet_json_write_uint(&w, rp->flushed_lsn);
                    stet_json_key(&w, "age_ms");
                    stet_json_write_uint(&w, rp->age_ms);
                }
                stet_json_end_object(&w);
            }
            stet_json_end_array(&w);
        }
        stet_json_end_object(&w);
    }
    stet_json_end_array(&w);

    stet_json_key(&w, "logs");
    stet_json_begin_array(&w);
    for (uint32_t i = 0; i < v->n_partitions; i++) {
        const struct stet_cluster_partition *p = &v->partitions[i];
        stet_json_begin_object(&w);
        stet_json_key(&w, "id");
        stet_json_write_uint(&w, p->id);
        stet_json_key(&w, "provider");
        stet_json_write_string(&w, v->log_provider);
        stet_json_key(&w, "sequencer");
        write_node_id(&w, p->leader_node);
        stet_json_key(&w, "nodeset");
        write_replicas(&w, v, p);
        stet_json_key(&w, "replication");
        stet_json_write_uint(&w, v->replication);
        stet_json_key(&w, "tail_lsn");
        stet_json_write_uint(&w, p->durable_lsn);
        stet_json_key(&w, "trim_point");
        stet_json_write_uint(&w, p->trim_point);
        stet_json_end_object(&w);
    }
    stet_json_end_array(&w);

    stet_json_key(&w, "metadata");
    stet_json_begin_object(&w);
    stet_json_key(&w, "provider");
    stet_json_write_string(&w, v->metadata_provider);
    stet_json_key(&w, "status");
    stet_json_write_string(&w, v->metadata_status ? v->metadata_status : "member");
    stet_json_key(&w, "leader");
    write_node_id(&w, v->metadata_members ? v->metadata_leader : v->this_node);
    stet_json_key(&w, "members");
    if (v->metadata_members) {
        stet_json_begin_array(&w);
        for (uint32_t i = 0; i < v->n_metadata_members; i++) write_node_id(&w, v->metadata_members[i]);
        stet_json_end_array(&w);
    } else {
        write_members(&w, v);
    }
    stet_json_key(&w, "quorum");
    stet_json_write_bool(&w, v->metadata_members ? v->metadata_quorum : true);
    stet_json_key(&w, "term");
    stet_json_write_uint(&w, v->metadata_term);
    stet_json_key(&w, "commit_index");
    stet_json_write_uint(&w, v->metadata_commit_index);
    stet_json_key(&w, "applied_index");
    stet_json_write_uint(&w, v->metadata_applied_index);
    stet_json_key(&w, "snapshot_index");
    stet_json_write_uint(&w, v->metadata_snapshot_index);
    stet_json_key(&w, "schema_version");
    stet_json_write_uint(&w, v->schema_version);
    stet_json_end_object(&w);
    stet_json_end_object(&w);
}
