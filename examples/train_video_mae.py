"""A few steps of a tiny masked video autoencoder (VideoMAE-style) on CPU over a humannet corpus.

It proves the training loader end to end: shards -> decoded frames at a fixed rate and size ->
batches -> a model that learns. It is not a recipe for a good model.

    make demo                                          # writes demo-corpus/
    python examples/train_video_mae.py demo-corpus --steps 20
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from humannet.corpus.loader import ClipDataset, collate_clips


class TinyVideoMAE(nn.Module):
    """Tubelet embedding, a small transformer encoder over the visible tubelets, a one-layer decoder that predicts the
    hidden ones."""

    def __init__(self, frames: int, size: int, tubelet: tuple[int, int] = (2, 8), dim: int = 64) -> None:
        super().__init__()
        self.t, self.p = tubelet
        self.tokens = (frames // self.t) * (size // self.p) ** 2
        patch = self.t * self.p * self.p * 3
        self.embed = nn.Linear(patch, dim)
        self.position = nn.Parameter(torch.randn(1, self.tokens, dim) * 0.02)
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(dim, 4, dim * 2, batch_first=True, dropout=0.0), 2
        )
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.decoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(dim, 4, dim * 2, batch_first=True, dropout=0.0), 1
        )
        self.head = nn.Linear(dim, patch)

    def patchify(self, video: torch.Tensor) -> torch.Tensor:
        """(B, T, H, W, 3) float -> (B, tokens, t*p*p*3)."""
        b, t, h, w, c = video.shape
        x = video.reshape(b, t // self.t, self.t, h // self.p, self.p, w // self.p, self.p, c)
        return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(b, self.tokens, -1)

    def forward(self, video: torch.Tensor, mask_ratio: float = 0.75) -> torch.Tensor:
        target = self.patchify(video)
        b, n, _ = target.shape
        keep = max(1, int(n * (1 - mask_ratio)))
        order = torch.rand(b, n).argsort(dim=1)
        visible, hidden = order[:, :keep], order[:, keep:]
        tokens = self.embed(target) + self.position
        encoded = self.encoder(torch.gather(tokens, 1, visible.unsqueeze(-1).expand(-1, -1, tokens.shape[-1])))
        full = self.mask_token.expand(b, n, -1).clone()
        full.scatter_(1, visible.unsqueeze(-1).expand(-1, -1, full.shape[-1]), encoded)
        predicted = self.head(self.decoder(full + self.position))
        index = hidden.unsqueeze(-1).expand(-1, -1, target.shape[-1])
        return nn.functional.mse_loss(torch.gather(predicted, 1, index), torch.gather(target, 1, index))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", help="corpus folder (e.g. demo-corpus/ from `make demo`)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--frames", type=int, default=8, help="frames per sample (a multiple of 2)")
    parser.add_argument("--fps", type=float, default=8.0, help="frame rate the clips are sampled at")
    parser.add_argument("--size", type=int, default=64, help="frame width and height (a multiple of 8)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument(
        "--where", default=None, help="DuckDB predicate over the clip index, e.g. \"viewpoint = 'exo'\""
    )
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    dataset = ClipDataset(
        args.corpus,
        fps=args.fps,
        size=(args.size, args.size),
        num_frames=args.frames,
        where=args.where,
        shuffle=True,
        seed=args.seed,
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size, num_workers=args.workers, collate_fn=collate_clips
    )
    model = TinyVideoMAE(args.frames, args.size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    step, epoch, started = 0, 0, time.perf_counter()
    while step < args.steps:
        dataset.set_epoch(epoch)
        batches = 0
        for batch in loader:
            video = batch["frames"].float() / 255.0
            loss = model(video)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            batches += 1
            print(f"step {step} loss {loss.item():.4f} clips {','.join(c[-15:] for c in batch['clip_id'])}", flush=True)
            if step >= args.steps:
                break
        if batches == 0:
            raise SystemExit(f"{args.corpus}: no clips to train on (empty corpus or --where matched nothing)")
        epoch += 1
    print(f"{step} steps in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
