// tessera convert: a checkpoint resharded to another layout, consolidated, exported to Hugging Face format, or a
// Hugging Face model imported as a tessera checkpoint.
#include <filesystem>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "core/check.hpp"
#include "io/checkpoint/reshard.hpp"
#include "io/hf/export.hpp"
#include "io/hf/import.hpp"

namespace tessera::cli {

namespace {
struct ConvertFlags {
  std::string source, output, to = "tessera";
  int tp = 1, pp = 1;
  int64_t max_shard_mb = 5000;
  bool weights_only = false, force = false;
};

// The output must not hold anything yet (or --force): a conversion never writes over another run.
void check_output(const ConvertFlags& f) {
  std::error_code ec;
  if (!std::filesystem::exists(f.output, ec)) return;
  if (!std::filesystem::is_directory(f.output, ec)) TESSERA_RAISE("{}: exists and is not a directory", f.output);
  if (!std::filesystem::is_empty(f.output, ec) && !f.force)
    TESSERA_RAISE("{}: exists and is not empty (--force writes into it)", f.output);
}
}  // namespace

void add_convert(CLI::App& app, const MpiRuntime& mpi) {
  auto f = std::make_shared<ConvertFlags>();
  CLI::App* cmd = app.add_subcommand(
      "convert", "Reshard or consolidate a checkpoint, or export it to / import it from Hugging Face format");
  cmd->add_option("source", f->source, kModelPathHelp)->required();
  cmd->add_option("-o,--output", f->output, "The output directory (a run directory for --to tessera)")->required();
  cmd->add_option("--to", f->to,
                  "tessera: a checkpoint at --tp x --pp (1 x 1: consolidated; from a Hugging Face directory: "
                  "imported); hf: Hugging Face format (GPT2LMHeadModel, LlamaForCausalLM)")
      ->check(CLI::IsMember({"tessera", "hf"}));
  cmd->add_option("--max-shard-mb", f->max_shard_mb, "--to hf: split safetensors files larger than this")
      ->check(whole_at_least(1));
  cmd->add_option("--tp", f->tp, "Tensor-parallel ranks of the output (--to tessera)")->check(whole_at_least(1));
  cmd->add_option("--pp", f->pp, "Pipeline stages of the output (--to tessera)")->check(whole_at_least(1));
  cmd->add_flag("--weights-only", f->weights_only, "Leave AdamW's moments out (--to tessera)");
  cmd->add_flag("--force", f->force, "Write into an output directory that is not empty");
  cmd->callback([f, &mpi] {
    if (mpi.rank() != 0) return;  // one process converts
    check_output(*f);
    const std::unique_ptr<WeightSource> source = open_weights(f->source);
    const WeightSource& reader = *source;
    if (const auto* hf = dynamic_cast<const HfCheckpoint*>(&reader); hf != nullptr && !hf->note().empty())
      fmt::print("note: {}\n", hf->note());
    if (f->to == "hf") {
      HfExportOptions o;
      o.max_shard_bytes = f->max_shard_mb * 1000 * 1000;
      o.progress = true;
      const std::string notes = export_hf(reader, f->output, o);
      fmt::print("{}exported {} (step {}) to {} as {}\n", notes, reader.dir(), reader.manifest().step, f->output,
                 hf_architecture(reader.config().model));
      return;
    }
    ReshardOptions o;
    o.tp = f->tp;
    o.pp = f->pp;
    o.weights_only = f->weights_only;
    o.progress = true;
    const std::string out = reshard_checkpoint(reader, f->output, o);
    fmt::print("converted {} (step {}, layout tp {} pp {}) to {} (tp {} pp {}{})\n", reader.dir(),
               reader.manifest().step, reader.manifest().layout.tp, reader.manifest().layout.pp, out, f->tp, f->pp,
               f->weights_only || !reader.manifest().optimizer_state ? ", weights only" : ", with AdamW's moments");
  });
}

}  // namespace tessera::cli
