# hostile.sh — the CLI against hostile arguments and files (issue 10): every numeric option
# goes through one strict parser; non-regular files are refused, not read forever.
SUITE=hostile
. tests/lib.sh

M=models/mlp.onnx
EV="--eval dummy:shape=1x784 --metric topk=1"

# numbers: overflow, out of range, empty, trailing junk -> a usage error (exit 1) naming the option
check_num() { # NAME OPTION VALUE ARGS...
    name=$1 opt=$2 val=$3; shift 3
    lowp "$@" "$opt" "$val"
    expect "$name" 1 && has "$name" "$T/err" "$opt" && ok "$name"
}
check_num sampling_overflow --sampling-size 99999999999999999999 tune $M $EV
check_num sampling_junk --sampling-size 100x tune $M $EV
check_num sampling_empty_item --sampling-size 100,,200 tune $M $EV
check_num tolerance_huge --tolerance 1e20 tune $M $EV
check_num tolerance_empty --tolerance "" tune $M $EV
check_num tolerance_pct_huge --tolerance 150% tune $M $EV
check_num tolerance_nan --tolerance nan tune $M $EV
check_num smooth_empty --smooth-quant "" quantize $M -o "$T/q.onnx"
check_num smooth_one --smooth-quant 1 quantize $M -o "$T/q.onnx"
check_num percentile_zero --percentile 0 quantize $M -o "$T/q.onnx"
check_num percentile_blank --percentile " 50" quantize $M -o "$T/q.onnx"
check_num samples_overflow --samples 99999999999999999999 quantize $M -o "$T/q.onnx"
check_num threads_junk --threads 4x eval $M
# in range still works: the strict parser takes what it should
lowp quantize $M -o "$T/q.onnx" --calib "dummy:[4,1,28,28]" --samples 4 --smooth-quant 0.5 --percentile 99.9 --algo percentile -q
expect numbers_in_range 0 && [ -s "$T/q.onnx" ] && ok numbers_in_range
FM=/usr/share/datasets/fashion-mnist
if [ -d "$FM" ]; then
    lowp tune $M --calib FashionMNIST:$FM:train=true --eval FashionMNIST:$FM -T Rescale,Normalize=0.2860/0.3530 \
        --metric topk=1 -n 50 --sampling-size 8,16 --tolerance 100% --max-trials 1 -w "$T/ws" -o "$T/ws/out.onnx" -q --json
    expect sampling_list 0 && has sampling_list "$T/ws/history.jsonl" 'static ss=8 ' && ok sampling_list
fi
# an absolute tolerance has its own range: the parse is not the reason for a refusal
lowp tune $M $EV --tolerance 1e20 --absolute
expect tolerance_absolute_range 1 && has tolerance_absolute_range "$T/err" "1e6" && ok tolerance_absolute_range

# names with terminal escape sequences: lowp info shows them escaped (\x1B), never raw
if /usr/bin/python3 -c 'import onnx' 2>/dev/null; then
    /usr/bin/python3 - "$T/esc.onnx" <<'PY'
import sys
from onnx import helper, TensorProto
x = 'X\x1b[1m'
n = [helper.make_node('Relu', [x], ['Y'], name='evil\x1b]0;title\x07\x1b[2J')]
g = helper.make_graph(n, 'g\x1b[31m', [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1])],
                      [helper.make_tensor_value_info('Y', TensorProto.FLOAT, [1])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)])
m.ir_version = 7
open(sys.argv[1], 'wb').write(m.SerializeToString())
PY
    lowp info "$T/esc.onnx"
    if expect info_escapes 0 && has info_escapes "$T/out" 'g\x1B[31m' && has info_escapes "$T/out" 'X\x1B[1m'; then
        if LC_ALL=C grep -q "$(printf '\033')" "$T/out"; then fail info_escapes "a raw ESC byte reached stdout"; else ok info_escapes; fi
    fi
else
    skip info_escapes "no python3-onnx"
fi

# non-regular files: refused at once (a FIFO nobody writes to would block; /dev/zero never ends)
mkfifo "$T/fifo"
for f in /dev/zero "$T/fifo" "$T"; do
    lowp info "$f"
    expect "info_nonregular_$(basename "$f")" 2 && has "info_nonregular_$(basename "$f")" "$T/err" "not a regular file" &&
        ok "info_nonregular_$(basename "$f")"
done
lowp run $M -i "input=$T/fifo"
expect run_fifo_npy 2 && has run_fifo_npy "$T/err" "not a regular file" && ok run_fifo_npy

finish
